using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Text;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Text;

[Trait("Category", "Unit")]
public sealed class TokenBatchTests
{
    [Fact]
    public void PadsOnTheRightWithMask()
    {
        var batch = TokenBatch.RightPad([[1, 2, 3], [4], [5, 6]]);
        Assert.Equal(3, batch.Batch);
        Assert.Equal(3, batch.Length);
        Assert.Equal([1, 2, 3, 4, Qwen2Tokens.Pad, Qwen2Tokens.Pad, 5, 6, Qwen2Tokens.Pad], batch.InputIds);
        Assert.Equal([1, 1, 1, 1, 0, 0, 1, 1, 0], batch.AttentionMask);

        var custom = TokenBatch.RightPad([[7], [8, 9]], padId: 0);
        Assert.Equal([7, 0, 8, 9], custom.InputIds);
    }

    [Fact]
    public void ReproducesTheReferenceBatch()
    {
        // rocket, chelsea, coins in one right-padded batch (fixtures/hpsv3-tiny, pad 151643).
        using var expected = SafetensorsFile.Open(TestPaths.Fixture("hpsv3-tiny/expected_batch.safetensors"));
        var sequences = new[] { "rocket", "chelsea", "coins" }.Select(ReadInputIds).ToArray();
        var batch = TokenBatch.RightPad(sequences);
        Assert.Equal(3, batch.Batch);
        Assert.Equal(837, batch.Length);
        Assert.Equal([3L, 837L], expected["input_ids"].Shape);
        Assert.Equal(expected.ReadInt64("input_ids"), batch.InputIds);
        Assert.Equal(expected.ReadInt64("attention_mask"), batch.AttentionMask);
    }

    private static int[] ReadInputIds(string id)
    {
        using var file = SafetensorsFile.Open(TestPaths.Fixture($"hpsv3-tiny/expected_{id}.safetensors"));
        return [.. file.ReadInt64("input_ids").Select(v => checked((int)v))];
    }

    [Fact]
    public void EmptyInputsAreRejectedWithTheirIndex()
    {
        Assert.Throws<ArgumentException>(() => TokenBatch.RightPad([]));
        var ex = Assert.Throws<ArgumentException>(() => TokenBatch.RightPad([[1], []]));
        Assert.Contains("sequence 1", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(() => TokenBatch.RightPad([[1], null!]));
        Assert.Contains("sequence 1", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => TokenBatch.RightPad(null!));
    }
}
