using HpsSharp.Core.Safetensors;
using Xunit;

namespace HpsSharp.Core.Tests.Safetensors;

[Trait("Category", "Unit")]
public sealed class Hpsv3SizeTests
{
    [Fact]
    public void ParameterAndTensorCountsMatchTheTableWithoutBuildingIt()
    {
        foreach (var dims in new[] { Hpsv3Dimensions.Released7B, new Hpsv3Dimensions(32, 2, 4, 2, 88, 151658, 2, 32, 4) })
        {
            var table = Hpsv3Layout.ExpectedTensors(dims);
            Assert.Equal(table.Count, dims.TensorCount);
            Assert.Equal(table.Sum(t => (double)t.Shape.Aggregate(1L, (a, b) => a * b)), dims.ParameterCount);
        }

        // An absurd config gives a number, not an overflow or an allocation.
        var absurd = Hpsv3Dimensions.Released7B with { NumLayers = 2_000_000_000 };
        Assert.True(absurd.ParameterCount > 4e17);
        Assert.Equal(24_000_000_399L, absurd.TensorCount);
    }
}
