using System.Text.Json;
using HpsSharp.Core;

namespace HpsSharp.Modeling.Clip;

/// <summary>How a CLIP checkpoint names its tensors (SCORERS.md §1.5).</summary>
public enum ClipLayout
{
    /// <summary>transformers' <c>CLIPModel</c>: <c>vision_model.*</c>, <c>text_model.*</c>, separate q/k/v projections.</summary>
    HuggingFace,

    /// <summary>open_clip's <c>CLIP</c> (and OpenAI's JIT names): <c>visual.*</c>, <c>transformer.resblocks.*</c>, packed <c>in_proj_weight</c>.</summary>
    OpenClip,
}

/// <summary>The MLP activation of a CLIP tower.</summary>
public enum ClipActivation
{
    /// <summary>Exact erf GELU (the LAION ViT-H/14 models).</summary>
    Gelu,

    /// <summary><c>x·sigmoid(1.702x)</c> (the OpenAI models).</summary>
    QuickGelu,
}

/// <summary>One transformer tower.</summary>
public sealed record ClipTowerConfig(int Width, int Layers, int Heads, int Intermediate, ClipActivation Activation, double LayerNormEps);

/// <summary>A CLIP dual encoder: both towers, the input sizes and the joint embedding width.</summary>
public sealed record ClipConfig(ClipTowerConfig Vision, ClipTowerConfig Text, int ImageSize, int PatchSize, int VocabSize, int ContextLength, int ProjectionDim)
{
    /// <summary>Vision tokens: the class token plus one per patch.</summary>
    public int VisionTokens => 1 + ((ImageSize / PatchSize) * (ImageSize / PatchSize));

    /// <summary>Reads a transformers <c>config.json</c> of a <c>CLIPModel</c>.</summary>
    public static ClipConfig FromHuggingFace(string path)
    {
        using var doc = Parse(path);
        var root = doc.RootElement;
        try
        {
            return FromHuggingFace(root.GetProperty("vision_config"), root.GetProperty("text_config"),
                root.TryGetProperty("projection_dim", out var p) ? p.GetInt32() : 512, path);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new UserInputException(path, $"not a CLIPModel config.json ({ex.Message})", ex);
        }
    }

    /// <summary>
    /// From the <c>vision_config</c> and <c>text_config</c> members of a transformers CLIP config (or the same members
    /// as the shape fixtures list them); <paramref name="source"/> names them in errors.
    /// </summary>
    internal static ClipConfig FromHuggingFace(JsonElement vision, JsonElement text, int projectionDim, string source) => new(
        Tower(vision, source), Tower(text, source),
        vision.GetProperty("image_size").GetInt32(), vision.GetProperty("patch_size").GetInt32(),
        text.TryGetProperty("vocab_size", out var vs) ? vs.GetInt32() : 49408,
        text.TryGetProperty("max_position_embeddings", out var mp) ? mp.GetInt32() : 77,
        projectionDim);

    /// <summary>Reads an open_clip <c>model_cfg</c> (or a file with a <c>model_cfg</c> member); open_clip has no <c>quick_gelu</c> unless it says so.</summary>
    public static ClipConfig FromOpenClip(string path)
    {
        using var doc = Parse(path);
        try
        {
            return FromOpenClip(doc.RootElement.TryGetProperty("model_cfg", out var cfg) ? cfg : doc.RootElement);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new UserInputException(path, $"not an open_clip model config ({ex.Message})", ex);
        }
    }

    /// <summary>From an open_clip <c>model_cfg</c> element.</summary>
    public static ClipConfig FromOpenClip(JsonElement cfg)
    {
        var v = cfg.GetProperty("vision_cfg");
        var t = cfg.GetProperty("text_cfg");
        var act = cfg.TryGetProperty("quick_gelu", out var q) && q.GetBoolean() ? ClipActivation.QuickGelu : ClipActivation.Gelu;
        int vw = v.GetProperty("width").GetInt32();
        int headWidth = v.TryGetProperty("head_width", out var hw) ? hw.GetInt32() : 64;
        double mlpRatio = v.TryGetProperty("mlp_ratio", out var mr) ? mr.GetDouble() : 4.0;
        int tw = t.GetProperty("width").GetInt32();
        return new ClipConfig(
            new ClipTowerConfig(vw, v.GetProperty("layers").GetInt32(), vw / headWidth, (int)(vw * mlpRatio), act, 1e-5),
            new ClipTowerConfig(tw, t.GetProperty("layers").GetInt32(), t.GetProperty("heads").GetInt32(), tw * 4, act, 1e-5),
            v.GetProperty("image_size").GetInt32(), v.GetProperty("patch_size").GetInt32(),
            t.GetProperty("vocab_size").GetInt32(), t.GetProperty("context_length").GetInt32(), cfg.GetProperty("embed_dim").GetInt32());
    }

    /// <summary>open_clip's ViT-H-14 (HPSv2's fork, <c>model_configs/ViT-H-14.json</c>).</summary>
    public static ClipConfig VitH14OpenClip { get; } = new(
        new ClipTowerConfig(1280, 32, 16, 5120, ClipActivation.Gelu, 1e-5),
        new ClipTowerConfig(1024, 24, 16, 4096, ClipActivation.Gelu, 1e-5),
        224, 14, 49408, 77, 1024);

    private static ClipTowerConfig Tower(JsonElement e, string path)
    {
        var act = e.TryGetProperty("hidden_act", out var a) ? a.GetString() : "quick_gelu";
        return new ClipTowerConfig(
            e.GetProperty("hidden_size").GetInt32(), e.GetProperty("num_hidden_layers").GetInt32(), e.GetProperty("num_attention_heads").GetInt32(),
            e.GetProperty("intermediate_size").GetInt32(),
            act switch
            {
                "gelu" => ClipActivation.Gelu,
                "quick_gelu" => ClipActivation.QuickGelu,
                _ => throw new UserInputException(path, $"hidden_act '{act}' is not a CLIP activation (gelu, quick_gelu)"),
            },
            e.TryGetProperty("layer_norm_eps", out var eps) ? eps.GetDouble() : 1e-5);
    }

    private static JsonDocument Parse(string path)
    {
        if (!File.Exists(path))
        {
            throw new UserInputException(path, "config file not found");
        }

        try
        {
            return JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException ex)
        {
            throw new UserInputException(path, $"invalid JSON ({ex.Message})", ex);
        }
    }
}
