using System.Text.Json;
using HpsSharp.Modeling.Clip;
using HpsSharp.Modeling.Scorers;
using HpsSharp.Modeling.Weights;
using HpsSharp.Testing;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace HpsSharp.Scorers.Tests;

/// <summary>
/// The real-size models built on the meta device (no memory) ask for exactly the released checkpoints' tensors, with
/// the released shapes, and count the released number of parameters (<c>real-shapes.json</c>).
/// </summary>
[Trait("Category", "Unit")]
public sealed class ScorerStructureTests
{
    private static readonly Lazy<JsonDocument> Shapes = new(() => JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("scorers/real-shapes.json"))));

    [Theory]
    [InlineData("pickscore", ClipLayout.HuggingFace)]
    [InlineData("clipscore", ClipLayout.HuggingFace)]
    [InlineData("hpsv2", ClipLayout.OpenClip)]
    public void RealSizeClipMatchesTheReleasedKeysAndShapes(string scorer, ClipLayout layout)
    {
        var entry = Shapes.Value.RootElement.GetProperty(scorer);
        var config = layout == ClipLayout.OpenClip ? ClipConfig.FromOpenClip(entry.GetProperty("model_cfg")) : HfConfig(entry);
        if (layout == ClipLayout.OpenClip)
        {
            Assert.Equal(ClipConfig.VitH14OpenClip, config);
        }

        var expected = Keys(entry).Where(k => !k.Key.EndsWith(".position_ids", StringComparison.Ordinal)).ToDictionary(k => k.Key, k => k.Value);
        var weights = new RecordingMetaSource();
        using var model = new ClipModel(config, layout, weights);
        Assert.Equal(expected.Count, weights.Requested.Count);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), weights.Requested.Order(StringComparer.Ordinal));
        long count = model.parameters().Sum(p => p.numel());
        Assert.Equal(entry.GetProperty("num_params").GetInt64(), count);
        foreach (var p in model.parameters())
        {
            Assert.Equal(DeviceType.META, p.device_type);
        }

        // Every requested name was built with the released shape.
        foreach (var (name, shape) in expected)
        {
            Assert.True(weights.Shapes[name].SequenceEqual(shape), $"{name}: built [{string.Join(", ", weights.Shapes[name])}], released [{string.Join(", ", shape)}]");
        }
    }

    [Fact]
    public void RealSizeAestheticMlpAndImageTowerMatchTheReleasedShapes()
    {
        var root = Shapes.Value.RootElement;
        var mlpKeys = root.GetProperty("aesthetic").GetProperty("mlp").EnumerateArray().Select(k => (k[0].GetString()!, k[1].EnumerateArray().Select(x => x.GetInt64()).ToArray())).ToList();
        var widths = AestheticMlp.LinearIndices.Select(i => mlpKeys.Single(k => k.Item1 == $"layers.{i}.weight").Item2).Select(s => (s[1], s[0])).ToList();
        var mlpWeights = new RecordingMetaSource();
        using var mlp = new AestheticMlp(widths, mlpWeights);
        Assert.Equal(mlpKeys.Select(k => k.Item1).Order(StringComparer.Ordinal), mlpWeights.Requested.Order(StringComparer.Ordinal));
        Assert.All(mlpKeys, k => Assert.Equal(k.Item2, mlpWeights.Shapes[k.Item1]));
        Assert.Equal(768, widths[0].Item1);

        // The image tower alone: CLIPScore's vision_model.* and visual_projection.weight.
        var clip = root.GetProperty("clipscore");
        var visionKeys = Keys(clip).Where(k => (k.Key.StartsWith("vision_model.", StringComparison.Ordinal) && !k.Key.EndsWith("position_ids", StringComparison.Ordinal)) || k.Key == "visual_projection.weight").Select(k => k.Key);
        var weights = new RecordingMetaSource();
        using var model = new ClipModel(HfConfig(clip), ClipLayout.HuggingFace, weights, withText: false);
        Assert.Equal(visionKeys.Order(StringComparer.Ordinal), weights.Requested.Order(StringComparer.Ordinal));
        Assert.Equal(root.GetProperty("aesthetic").GetProperty("embedding_dim").GetInt32(), model.Config.ProjectionDim);
    }

    [Fact]
    public void RealSizeImageRewardMatchesTheReleasedKeysAndShapes()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("scorers/imagereward/real-shapes.json")));
        var released = doc.RootElement.GetProperty("keys").EnumerateArray()
            .ToDictionary(k => k.GetProperty("key").GetString()!, k => k.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray());
        var vision = HpsSharp.Modeling.Blip.BlipVisionConfig.Large;
        var text = new HpsSharp.Modeling.Blip.BertConfig(30524, 768, 12, 12, 3072, 512, 1e-12);
        var weights = new RecordingMetaSource();
        using var visual = new HpsSharp.Modeling.Blip.BlipVisionTransformer("blip.visual_encoder", vision, weights);
        using var encoder = new HpsSharp.Modeling.Blip.BertTextEncoder("blip.text_encoder", text, vision.Width, weights);
        using var mlp = new AestheticMlp([(768, 1024), (1024, 128), (128, 64), (64, 16), (16, 1)], weights, "mlp.layers");
        // Everything but the projections ImageReward never uses and the position_ids buffer.
        var expected = released.Keys.Where(k => !k.StartsWith("blip.vision_proj.", StringComparison.Ordinal) && !k.StartsWith("blip.text_proj.", StringComparison.Ordinal) && !k.EndsWith("position_ids", StringComparison.Ordinal));
        Assert.Equal(expected.Order(StringComparer.Ordinal), weights.Requested.Order(StringComparer.Ordinal));
        Assert.All(weights.Requested, n => Assert.Equal(released[n], weights.Shapes[n]));
        Assert.Equal(625, released.Count);
    }

    private static ClipConfig HfConfig(JsonElement entry) =>
        ClipConfig.FromHuggingFace(entry.GetProperty("vision"), entry.GetProperty("text"), entry.GetProperty("projection_dim").GetInt32(), "real-shapes.json");

    private static List<KeyValuePair<string, long[]>> Keys(JsonElement entry) => entry.GetProperty("keys").EnumerateArray()
        .Select(k => new KeyValuePair<string, long[]>(k[0].GetString()!, k[1].EnumerateArray().Select(x => x.GetInt64()).ToArray())).ToList();

    /// <summary>Meta-device parameters, remembering the shape each block asked for under each name.</summary>
    private sealed class RecordingMetaSource : WeightSource
    {
        public Dictionary<string, long[]> Shapes { get; } = new(StringComparer.Ordinal);

        public override ScalarType BackboneDtype => ScalarType.Float32;

        public override TorchSharp.Modules.Parameter Get(string name, long[] shape, HpsSharp.Modeling.Weights.ParameterPrecision precision)
        {
            Record(name);
            Shapes[name] = shape;
            return new TorchSharp.Modules.Parameter(empty(shape, ScalarType.Float32, new Device(DeviceType.META)), requires_grad: false);
        }
    }
}
