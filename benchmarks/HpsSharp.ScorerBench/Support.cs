using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Clip;
using HpsSharp.Modeling.Weights;
using static TorchSharp.torch;

namespace HpsSharp.ScorerBench;

/// <summary>The HF CLIP configuration of a real-shapes.json entry.</summary>
internal static class Configs
{
    public static ClipConfig HuggingFace(JsonElement entry) =>
        ClipConfig.FromHuggingFace(entry.GetProperty("vision"), entry.GetProperty("text"), entry.GetProperty("projection_dim").GetInt32(), "real-shapes.json");
}

/// <summary>Analytic forward FLOPs (2 per multiply-add): linear layers at their token counts plus attention's QKᵀ and AV.</summary>
internal sealed class Flops
{
    private readonly List<(string Name, double Value)> _parts = [];

    public double Total => _parts.Sum(p => p.Value);

    public void Add(string name, double value) => _parts.Add((name, value));

    public override string ToString() => string.Join(", ", _parts.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {p.Value / 1e9:F1} G")));

    /// <summary>A pre-norm transformer encoder: per layer QKV + O (4W²), MLP (2WM) per token, attention 4T²W.</summary>
    public static double Transformer(int width, int layers, int mlp, long tokens) =>
        layers * ((2.0 * tokens * ((4.0 * width * width) + (2.0 * width * mlp))) + (4.0 * tokens * tokens * width));

    /// <summary>A ViT: patch embedding, the encoder, and the projection of the class token.</summary>
    public static double Vit(int width, int layers, int mlp, int tokens, int patch, int projection) =>
        (2.0 * (tokens - 1) * 3 * patch * patch * width) + Transformer(width, layers, mlp, tokens) + (2.0 * width * projection);

    /// <summary>BERT with cross-attention to <paramref name="imageTokens"/> image tokens of width <paramref name="imageWidth"/> (BLIP's text encoder).</summary>
    public static double Bert(int width, int layers, int mlp, long tokens, int imageTokens, int imageWidth) =>
        Transformer(width, layers, mlp, tokens)
        + (layers * ((2.0 * tokens * 2 * width * width) + (2.0 * imageTokens * 2 * imageWidth * width) + (4.0 * tokens * imageTokens * width)));
}

/// <summary>
/// Random weights made directly in the measured dtype (std 0.02; norm scales 1, biases 0), for models at real size
/// whose checkpoints are not on this machine. The arithmetic, and so the time, is that of the real weights.
/// </summary>
internal sealed class RandomWeightSource(ScalarType dtype) : WeightSource
{
    public override ScalarType BackboneDtype => dtype;

    public override TorchSharp.Modules.Parameter Get(string name, long[] shape, ParameterPrecision precision)
    {
        Record(name);
        bool norm = name.Contains("norm", StringComparison.OrdinalIgnoreCase) || name.Contains("ln_", StringComparison.Ordinal) || name.Contains(".ln", StringComparison.Ordinal);
        var t = shape.Length == 1 && norm && name.EndsWith("weight", StringComparison.Ordinal) ? ones(shape, dtype)
            : shape.Length == 1 && name.EndsWith("bias", StringComparison.Ordinal) ? zeros(shape, dtype)
            : (randn(shape, dtype) * 0.02).to(dtype);
        return new TorchSharp.Modules.Parameter(t, requires_grad: false);
    }
}
