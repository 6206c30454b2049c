using Xunit;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Tests;

[Trait("Category", "Model")]
public sealed class TensorAssertTests
{
    [Fact]
    public void ReportsTheWorstElementWithItsIndexAndBothValues()
    {
        using var actual = tensor(new float[] { 1f, 2f, 3f, 4.5f, 5f, 6.01f }, [2, 3]);
        var ex = Assert.Throws<XunitException>(() => TensorAssert.Close([1, 2, 3, 4, 5, 6], [2, 3], actual, 0, 0.1, "t"));
        Assert.Contains("1 of 6", ex.Message, StringComparison.Ordinal);
        Assert.Contains("worst at [1, 0]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("expected 4, actual 4.5", ex.Message, StringComparison.Ordinal);
        TensorAssert.Close([1, 2, 3, 4.5f, 5, 6], [2, 3], actual, 0, 0.011, "t");
        Assert.Throws<XunitException>(() => TensorAssert.Close([1, 2, 3, 4.5f, 5, 6], [3, 2], actual, 0, 1, "t"));
    }
}
