using System.Text.Json;
using HpsSharp.Core.Safetensors;
using HpsSharp.Hub.Checkpoints;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Hub.Tests;

[Trait("Category", "Unit")]
public sealed class CheckpointInspectorTests
{
    // docs/model.md#checkpoint-and-key-layouts / docs/model.md: 7B = 8,291,375,616 parameters (lm_head included) with 152064 vocabulary rows;
    // HPSv3 shrinks both to 151658 rows (−2·406·3584) and adds the fp32 head 3584·1024+1024 + 1024·16+16 + 16·2+2.
    private const long Released7BParameters = 8_291_375_616L - 2L * 406 * 3584 + (3584L * 1024 + 1024 + 1024 * 16 + 16 + 16 * 2 + 2);
    private const long Released7BBytes = 2L * (8_291_375_616L - 2L * 406 * 3584) + 4L * (3584L * 1024 + 1024 + 1024 * 16 + 16 + 16 * 2 + 2);

    [Fact]
    public void TinyFixtureFolderIsHpsv3ConsistentWithItsConfigButNotThe7BTable()
    {
        var report = CheckpointInspector.Inspect(TestPaths.Fixture("hpsv3-tiny"));

        Assert.Equal(Hpsv3KeyLayout.Flat, report.Layout);
        var a = report.Architecture;
        Assert.Equal("hpsv3", a.Kind);
        Assert.Equal(32, a.HiddenSize);
        Assert.Equal(2, a.Layers);
        Assert.Equal(151658, a.VocabRows);
        Assert.Equal(16, a.KeyValueWidth);
        Assert.Equal(88, a.IntermediateSize);
        Assert.Equal(2, a.VisionDepth);
        Assert.Equal(32, a.VisionEmbedDim);
        Assert.True(a.HasLmHead);
        Assert.False(report.Released.Ok);
        Assert.NotEmpty(report.Released.Check.Mismatched);
        Assert.NotNull(report.Config);
        Assert.True(report.Config!.Ok, string.Join("; ", report.Config.Check.Missing.Concat(report.Config.Check.Unexpected)));
        Assert.True(report.Config.MatchesRelease);
        Assert.Equal(["lm_head.weight"], report.Config.Check.Ignored);
        Assert.Equal(new FileInfo(TestPaths.Fixture("hpsv3-tiny/model.safetensors")).Length - SafetensorsFile.Open(TestPaths.Fixture("hpsv3-tiny/model.safetensors")).DataOffset, report.TotalBytes);
        Assert.Contains(report.Tensors, t => t is { Name: "rm_head.0.weight", Dtype: "F32" } && t.Shape.SequenceEqual(new long[] { 1024, 32 }));
    }

    [Fact]
    public void JsonCarriesTableArchitectureAndCheck()
    {
        var report = CheckpointInspector.Inspect(TestPaths.Fixture("hpsv3-tiny/model.safetensors"));
        using var doc = JsonDocument.Parse(report.ToJson());
        var r = doc.RootElement;

        Assert.Equal(report.Tensors.Count, r.GetProperty("tensor_count").GetInt32());
        Assert.Equal(report.Tensors.Count, r.GetProperty("tensors").GetArrayLength());
        Assert.Equal("flat", r.GetProperty("layout").GetString());
        Assert.Equal("hpsv3", r.GetProperty("architecture").GetProperty("kind").GetString());
        Assert.False(r.GetProperty("check").GetProperty("ok").GetBoolean());
        Assert.True(r.GetProperty("config_check").GetProperty("ok").GetBoolean());
        var first = r.GetProperty("tensors")[0];
        Assert.Equal(report.Tensors[0].Name, first.GetProperty("name").GetString());
        Assert.Equal(report.Tensors[0].Bytes, first.GetProperty("bytes").GetInt64());
        Assert.Equal("model.safetensors", first.GetProperty("file").GetString());
    }

    [Fact]
    public void Full7BHeaderOnlyCheckpointMatchesTheRelease()
    {
        using var tmp = new TempDir();
        var path = tmp.File("HPSv3.safetensors");
        long length = Checkpoints.WriteSparse(path, Checkpoints.ReleasedTable());

        var report = CheckpointInspector.Inspect(path);

        Assert.True(length > 16_000_000_000L);
        Assert.True(report.Released.Ok, string.Join("; ", report.Released.Check.Missing.Concat(report.Released.Check.Unexpected)));
        Assert.True(report.Released.MatchesRelease);
        Assert.Empty(report.Released.Check.Missing);
        Assert.Equal(Released7BParameters, report.Parameters);
        Assert.Equal(Released7BBytes, report.TotalBytes);
        Assert.Equal(Hpsv3Layout.ExpectedTensors(Hpsv3Dimensions.Released7B).Count + 1, report.Tensors.Count);
        Assert.Equal(3584, report.Architecture.HiddenSize);
        Assert.Equal(28, report.Architecture.Layers);
        Assert.Equal(512, report.Architecture.KeyValueWidth);
        Assert.Equal(32, report.Architecture.VisionDepth);
        Assert.Null(report.Config);
    }

    [Fact]
    public void Full7BWithoutLmHeadHasTheSpecParameterCount()
    {
        using var tmp = new TempDir();
        var path = tmp.File("model.safetensors");
        Checkpoints.WriteSparse(path, Checkpoints.ReleasedTable(lmHead: false));

        var report = CheckpointInspector.Inspect(path);

        Assert.Equal(Released7BParameters - 151658L * 3584, report.Parameters);
        Assert.True(report.Released.Ok);
        Assert.False(report.Architecture.HasLmHead);
    }

    [Fact]
    public void NestedLayoutIsDetectedAndStillLoadable()
    {
        using var tmp = new TempDir();
        var path = tmp.File("model.safetensors");
        Checkpoints.WriteSparse(path, Checkpoints.ReleasedTable(nested: true));

        var report = CheckpointInspector.Inspect(path);

        Assert.Equal(Hpsv3KeyLayout.Nested, report.Layout);
        Assert.True(report.Released.Ok);
        Assert.False(report.Released.MatchesRelease); // loadable, but not the released key names
        Assert.Equal("hpsv3", report.Architecture.Kind);
        Assert.Contains("\"layout\": \"language_model\"", report.ToJson(includeTensors: false), StringComparison.Ordinal);
    }

    [Fact]
    public void MissingUnexpectedWrongShapeAndDtypeAreAllReported()
    {
        using var tmp = new TempDir();
        var path = tmp.File("model.safetensors");
        var table = Checkpoints.ReleasedTable();
        table.RemoveAll(t => t.Name == "model.layers.27.mlp.down_proj.weight");
        int k = table.FindIndex(t => t.Name == "model.layers.3.self_attn.k_proj.weight");
        table[k] = (table[k].Name, table[k].Dtype, [3584, 3584]);
        int head = table.FindIndex(t => t.Name == "rm_head.5.weight");
        table[head] = (table[head].Name, SafetensorsDtype.BF16, table[head].Shape);
        table.Add(("model.extra.weight", SafetensorsDtype.F32, [4]));
        Checkpoints.WriteSparse(path, table);

        var r = CheckpointInspector.Inspect(path).Released;

        Assert.False(r.Ok);
        Assert.Equal(["model.layers.27.mlp.down_proj.weight"], r.Check.Missing);
        Assert.Equal(["model.extra.weight"], r.Check.Unexpected);
        var m = Assert.Single(r.Check.Mismatched);
        Assert.Equal("model.layers.3.self_attn.k_proj.weight", m.Name);
        Assert.Contains("[512, 3584]", m.Expected, StringComparison.Ordinal);
        var d = Assert.Single(r.DtypeDifferences);
        Assert.Equal(("rm_head.5.weight", "F32", "BF16"), (d.Name, d.Expected, d.Actual));
    }

    [Fact]
    public void ConfigDimensionsUseHpsv3VocabularyForTheBaseConfig()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("config.json"), """
            {"hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
             "intermediate_size": 18944, "vocab_size": 152064, "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4}}
            """);
        Assert.Equal(Hpsv3Dimensions.Released7B, CheckpointInspector.DimensionsFromConfig(tmp.File("config.json")));

        File.WriteAllText(tmp.File("bad.json"), """{"hidden_size": 8, "vision_config": {}}""");
        var ex = Assert.Throws<InvalidDataException>(() => CheckpointInspector.DimensionsFromConfig(tmp.File("bad.json")));
        Assert.Contains("bad.json", ex.Message, StringComparison.Ordinal);
    }
}
