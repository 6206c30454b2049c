using HpsSharp.Core.Safetensors;
using Xunit;

namespace HpsSharp.Core.Tests.Safetensors;

[Trait("Category", "Unit")]
public sealed class Hpsv3LayoutTests
{
    private static readonly Hpsv3Dimensions Tiny = new(32, 2, 4, 2, 88, 151658, 2, 32, 4);

    private static List<CheckpointTensor> Stored(Hpsv3Dimensions dims, Func<string, string>? rename = null) =>
        Hpsv3Layout.ExpectedTensors(dims)
            .Select(t => new CheckpointTensor((rename ?? (n => n))(t.Name), t.ReleasedDtype, t.Shape))
            .ToList();

    [Fact]
    public void Released7BTableHasTheSpecsKeyCountAndParameterCount()
    {
        var table = Hpsv3Layout.ExpectedTensors(Hpsv3Dimensions.Released7B);
        // docs/model.md#backbone: 28·12 + 2 decoder tensors, 32·12 + 7 vision tensors; docs/model.md#checkpoint-and-key-layouts: plus 6 rm_head tensors.
        Assert.Equal(28 * 12 + 2 + 32 * 12 + 7 + 6, table.Count);
        // docs/model.md: Qwen2-VL-7B has 8,291,375,616 parameters with a 152064-row embedding and lm_head.
        // HPSv3 shrinks the embedding to 151658 rows, drops lm_head from what scoring needs, and adds the head.
        long head = 3584L * 1024 + 1024 + 1024 * 16 + 16 + 16 * 2 + 2;
        long expected = 8_291_375_616L - 2 * 152064L * 3584 + 151658L * 3584 + head;
        Assert.Equal(expected, table.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)));
        Assert.Equal("[151658, 3584]", table.Single(t => t.Name == "model.embed_tokens.weight").ShapeText);
        Assert.Equal("[512, 3584]", table.Single(t => t.Name == "model.layers.27.self_attn.k_proj.weight").ShapeText);
        Assert.Equal("[1280, 3, 2, 14, 14]", table.Single(t => t.Name == "visual.patch_embed.proj.weight").ShapeText);
        Assert.Equal("F32", table.Single(t => t.Name == "rm_head.5.bias").ReleasedDtype);
        Assert.Equal("BF16", table.Single(t => t.Name == "visual.merger.mlp.2.weight").ReleasedDtype);
    }

    [Theory]
    [InlineData("model.language_model.layers.3.mlp.up_proj.weight", "model.layers.3.mlp.up_proj.weight")]
    [InlineData("model.language_model.embed_tokens.weight", "model.embed_tokens.weight")]
    [InlineData("model.visual.blocks.0.attn.qkv.bias", "visual.blocks.0.attn.qkv.bias")]
    [InlineData("model.layers.0.input_layernorm.weight", "model.layers.0.input_layernorm.weight")]
    [InlineData("visual.merger.ln_q.weight", "visual.merger.ln_q.weight")]
    [InlineData("rm_head.0.weight", "rm_head.0.weight")]
    [InlineData("lm_head.weight", "lm_head.weight")]
    public void NormalizeMapsBothLayoutsToFlatNames(string stored, string flat)
    {
        Assert.Equal(flat, Hpsv3Layout.Normalize(stored));
        Assert.Equal(flat, Hpsv3Layout.Normalize(Hpsv3Layout.ToNested(flat)));
    }

    [Fact]
    public void FlatAndNestedCheckpointsBothPass()
    {
        var flat = Hpsv3Layout.Check(Stored(Tiny).Append(new CheckpointTensor("lm_head.weight", "BF16", [151658, 32])), Tiny);
        Assert.True(flat.Ok);
        Assert.Equal(Hpsv3KeyLayout.Flat, flat.Layout);
        Assert.Equal(["lm_head.weight"], flat.Ignored);

        var nested = Hpsv3Layout.Check(Stored(Tiny, Hpsv3Layout.ToNested), Tiny);
        Assert.True(nested.Ok);
        Assert.Equal(Hpsv3KeyLayout.Nested, nested.Layout);
        Assert.Equal("model.language_model.norm.weight", nested.StoredNames["model.norm.weight"]);
    }

    [Fact]
    public void CheckReportsMissingUnexpectedMismatchedAndDuplicates()
    {
        var stored = Stored(Tiny).Where(t => t.Name != "model.norm.weight").ToList();
        stored.Add(new CheckpointTensor("model.visual.merger.ln_q.bias", "BF16", [32]));      // duplicate in the other layout
        stored.Add(new CheckpointTensor("something.else", "F32", [1]));
        int q = stored.FindIndex(t => t.Name == "model.layers.1.self_attn.q_proj.weight");
        stored[q] = stored[q] with { Shape = [32, 33] };
        int e = stored.FindIndex(t => t.Name == "rm_head.0.bias");
        stored[e] = stored[e] with { Dtype = "I64" };

        var check = Hpsv3Layout.Check(stored, Tiny);
        Assert.False(check.Ok);
        Assert.Equal(Hpsv3KeyLayout.Mixed, check.Layout);
        Assert.Equal(["model.norm.weight"], check.Missing);
        Assert.Contains("something.else", check.Unexpected);
        Assert.Contains(check.Unexpected, u => u.StartsWith("model.visual.merger.ln_q.bias (duplicate of visual.merger.ln_q.bias)", StringComparison.Ordinal));
        Assert.Equal(2, check.Mismatched.Count);
        Assert.Contains(check.Mismatched, m => m.Name == "model.layers.1.self_attn.q_proj.weight" && m.Actual.StartsWith("[32, 33]", StringComparison.Ordinal));
        Assert.Contains(check.Mismatched, m => m.Name == "rm_head.0.bias" && m.Actual.EndsWith("I64", StringComparison.Ordinal));
    }

    [Fact]
    public void ReleasedShapesAreRecognisedAndA2BCheckpointIsNot()
    {
        Assert.True(Hpsv3Layout.HasReleasedShapes(Stored(Hpsv3Dimensions.Released7B)));
        var twoB = new Hpsv3Dimensions(1536, 28, 12, 2, 8960, 151658, 32, 1280, 4);
        Assert.False(Hpsv3Layout.HasReleasedShapes(Stored(twoB)));
        Assert.False(Hpsv3Layout.HasReleasedShapes(Stored(Tiny)));
    }
}
