using System.Text.Json;
using HpsSharp.Core;

namespace HpsSharp.Modeling.Blip;

/// <summary>BLIP's ViT (timm layout) as ImageReward builds it: <c>create_vit('large', 224)</c> is 1024 wide, 24 blocks, 16 heads, patch 16.</summary>
public sealed record BlipVisionConfig(int ImageSize, int PatchSize, int Width, int Depth, int Heads, double MlpRatio, double LayerNormEps)
{
    /// <summary>Vision tokens: class token + patches.</summary>
    public int Tokens => 1 + ((ImageSize / PatchSize) * (ImageSize / PatchSize));

    /// <summary>The released model's tower.</summary>
    public static BlipVisionConfig Large { get; } = new(224, 16, 1024, 24, 16, 4.0, 1e-6);

    /// <summary>Reads this project's <c>vision_config.json</c>.</summary>
    public static BlipVisionConfig Load(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            return new BlipVisionConfig(r.GetProperty("image_size").GetInt32(), r.GetProperty("patch_size").GetInt32(), r.GetProperty("embed_dim").GetInt32(),
                r.GetProperty("depth").GetInt32(), r.GetProperty("num_heads").GetInt32(), r.GetProperty("mlp_ratio").GetDouble(), r.GetProperty("layer_norm_eps").GetDouble());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            throw new UserInputException(path, $"not a BLIP vision config ({ex.Message})", ex);
        }
    }
}

/// <summary>The text encoder's BertConfig (<c>med_config.json</c>); <c>encoder_width</c> in the file is ignored, as the official code replaces it by the vision width.</summary>
public sealed record BertConfig(int VocabSize, int Hidden, int Layers, int Heads, int Intermediate, int MaxPositions, double LayerNormEps)
{
    /// <summary>Reads <c>med_config.json</c>.</summary>
    public static BertConfig Load(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var r = doc.RootElement;
            return new BertConfig(r.GetProperty("vocab_size").GetInt32(), r.GetProperty("hidden_size").GetInt32(), r.GetProperty("num_hidden_layers").GetInt32(),
                r.GetProperty("num_attention_heads").GetInt32(), r.GetProperty("intermediate_size").GetInt32(), r.GetProperty("max_position_embeddings").GetInt32(),
                r.GetProperty("layer_norm_eps").GetDouble());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            throw new UserInputException(path, $"not a BERT med_config.json ({ex.Message})", ex);
        }
    }
}
