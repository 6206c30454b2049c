using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Tests;

[Trait("Category", "Model")]
public sealed class StructureTests
{
    private static string Approved(string name) => Path.Combine(AppContext.BaseDirectory, "Approved", name);

    private static string Dtype(ScalarType t) => t switch
    {
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float32 => "F32",
        _ => t.ToString(),
    };

    [Fact]
    public void Full7BOnTheMetaDeviceMatchesTheApprovedParameterTable()
    {
        // The released folder has the base config (vocab 152064); the checkpoint's embedding has 151658 rows.
        var config = Qwen2VLConfig.Load(Approved("qwen2-vl-7b-instruct.config.json")) with { VocabSize = Hpsv3Layout.ReleasedVocabSize };
        using var model = Hpsv3Model.CreateOnMeta(config, Precision.Bf16);
        var lines = new List<string>();
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.Equal(DeviceType.META, p.device_type);
            lines.Add($"{name} [{string.Join(", ", p.shape)}] {Dtype(p.dtype)}");
        }

        lines.Sort(StringComparer.Ordinal);
        var approved = File.ReadAllLines(Approved("hpsv3-7b-bf16.parameters.txt"));
        var missing = approved.Except(lines).ToList();
        var extra = lines.Except(approved).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"structure differs from the approved table: missing {string.Join("; ", missing.Take(10))}; extra {string.Join("; ", extra.Take(10))}");
        Assert.Equal(approved, lines);
        Assert.Empty(model.buffers());
    }

    public static TheoryData<string> Configs => new() { "tiny", "released-7b" };

    /// <summary>
    /// The TorchSharp-free table (<c>hps model inspect</c>, <c>hps doctor</c>) equals the parameters of the model built
    /// on the meta device — the table the loader checks against — name by name, in order, with shapes and roles.
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void TheInspectorTableIsTheMetaDeviceModel(string which)
    {
        var config = which == "tiny" ? Qwen2VLConfig.Load(Path.Combine(TinyFixture.ModelDir, "config.json")) : Qwen2VLConfig.Released7B;
        var table = Hpsv3Layout.ExpectedTensors(config.ToDimensions());
        var model = Hpsv3Model.ParameterTable(config);
        Assert.Equal(table.Select(t => t.Name), model.Select(t => t.Name));
        Assert.Equal(table.Select(t => $"{t.Name} {t.ShapeText} {t.Role}"), model.Select(t => $"{t.Name} {t.ShapeText} {t.Role}"));
        Assert.Equal(config.ToDimensions().TensorCount, model.Count);
        Assert.Equal(config.ToDimensions().ParameterCount, model.Sum(t => (double)t.Shape.Aggregate(1L, (a, b) => a * b)));
    }

    [Fact]
    public void TheReleasedConfigAndDimensionsAreOneDefinition()
    {
        Assert.Equal(Hpsv3Dimensions.Released7B, Qwen2VLConfig.Released7B.ToDimensions());
        Assert.Equal(Qwen2VLConfig.Released7B, Qwen2VLConfig.FromDimensions(Qwen2VLConfig.Released7B.ToDimensions()));
        var tiny = Qwen2VLConfig.Load(Path.Combine(TinyFixture.ModelDir, "config.json"));
        Assert.Equal(tiny.ToDimensions(), Qwen2VLConfig.FromDimensions(tiny.ToDimensions()).ToDimensions());
    }
}

[Trait("Category", "Unit")]
public sealed class ModelNameTests
{
    [Fact]
    public void OnlyThe7BShapesInHPSv3SafetensorsAreTheReleasedModel()
    {
        var released = HpsScorer.Name("/models/hpsv3", Qwen2VLConfig.Released7B, ["/models/hpsv3/HPSv3.safetensors"]);
        Assert.True(released.Released);
        Assert.Equal("HPSv3 (MizzenAI/HPSv3)", released.Name);

        var renamed = HpsScorer.Name("/models/finetune", Qwen2VLConfig.Released7B, ["/models/finetune/model.safetensors"]);
        Assert.False(renamed.Released);
        Assert.Contains("not the released HPSv3", renamed.Name, StringComparison.Ordinal);
        Assert.Contains("model.safetensors", renamed.Name, StringComparison.Ordinal);

        var small = Qwen2VLConfig.Released7B with { HiddenSize = 1536, NumAttentionHeads = 12, NumKeyValueHeads = 2, IntermediateSize = 8960 };
        var twoB = HpsScorer.Name("/models/x", small, ["/models/x/HPSv3.safetensors"]);
        Assert.False(twoB.Released);
        Assert.Contains("hidden 1536", twoB.Name, StringComparison.Ordinal);
    }
}

[Trait("Category", "Unit")]
public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hps-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TheReleasedBaseConfigBindsAndANestedTextConfigIsLifted()
    {
        var flat = Qwen2VLConfig.Load(Path.Combine(AppContext.BaseDirectory, "Approved", "qwen2-vl-7b-instruct.config.json"));
        Assert.Equal(Qwen2VLConfig.Released7B with { VocabSize = 152064 }, flat);

        var nested = Path.Combine(_dir, "config.json");
        File.WriteAllText(nested, """
            {"model_type": "qwen2_vl", "text_config": {"hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
             "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064, "rope_theta": 1000000.0},
             "vision_config": {"depth": 32, "embed_dim": 1280, "num_heads": 16, "hidden_size": 3584}}
            """);
        Assert.Equal(flat.ToDimensions(), Qwen2VLConfig.Load(nested).ToDimensions());

        File.WriteAllText(nested, "[1, 2]");
        Assert.Throws<Core.UserInputException>(() => Qwen2VLConfig.Load(nested));
        File.WriteAllText(nested, "{ not json");
        Assert.Throws<Core.UserInputException>(() => Qwen2VLConfig.Load(nested));
    }
}
