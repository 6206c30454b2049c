using System.Text.Json;
using System.Text.Json.Serialization;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Text;

namespace HpsSharp.Modeling;

/// <summary>
/// The Qwen2-VL configuration (Hugging Face <c>config.json</c>, docs/model.md) as far as HPSv3 scoring needs it.
/// dtype and device are load options, not configuration.
/// </summary>
public sealed record Qwen2VLConfig
{
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }

    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }

    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }

    [JsonPropertyName("num_key_value_heads")] public int NumKeyValueHeads { get; init; }

    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }

    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }

    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;

    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 1_000_000.0;

    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";

    [JsonPropertyName("image_token_id")] public int ImageTokenId { get; init; } = Qwen2Tokens.ImagePad;

    [JsonPropertyName("video_token_id")] public int VideoTokenId { get; init; } = Qwen2Tokens.VideoPad;

    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }

    [JsonPropertyName("vision_config")] public Qwen2VLVisionConfig VisionConfig { get; init; } = new();

    /// <summary>Head dimension of the decoder (hidden / heads).</summary>
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>The released HPSv3 7B configuration (Qwen2-VL-7B-Instruct with the vocabulary resized to 151658).</summary>
    public static Qwen2VLConfig Released7B { get; } = FromDimensions(Hpsv3Dimensions.Released7B);

    /// <summary>
    /// The configuration of <paramref name="dims"/> with Qwen2-VL's defaults for everything the sizes do not fix
    /// (norm epsilon, RoPE base, activations, token ids): the inverse of <see cref="ToDimensions"/>.
    /// </summary>
    public static Qwen2VLConfig FromDimensions(Hpsv3Dimensions dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        return new Qwen2VLConfig
        {
            HiddenSize = dims.HiddenSize,
            NumHiddenLayers = dims.NumLayers,
            NumAttentionHeads = dims.NumHeads,
            NumKeyValueHeads = dims.NumKeyValueHeads,
            IntermediateSize = dims.IntermediateSize,
            VocabSize = dims.VocabSize,
            VisionConfig = new Qwen2VLVisionConfig
            {
                Depth = dims.VisionDepth,
                EmbedDim = dims.VisionEmbedDim,
                NumHeads = dims.VisionNumHeads,
                MlpRatio = dims.VisionMlpRatio,
                HiddenSize = dims.HiddenSize,
                InChans = dims.InChannels,
                PatchSize = dims.PatchSize,
                TemporalPatchSize = dims.TemporalPatchSize,
                SpatialMergeSize = dims.SpatialMergeSize,
            },
        };
    }

    /// <summary>Reads and validates <paramref name="path"/> (a <c>config.json</c>).</summary>
    /// <exception cref="UserInputException">the file is missing, not JSON, or a field is out of range.</exception>
    public static Qwen2VLConfig Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new UserInputException(path, "config.json not found (a model folder needs the Qwen2-VL config.json)");
        }

        Qwen2VLConfig? config;
        try
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)) as System.Text.Json.Nodes.JsonObject
                ?? throw new UserInputException(path, "config.json is not a JSON object");

            // transformers ≥ 4.5x may write the decoder fields under "text_config": lift them to the top level.
            if (!node.ContainsKey("hidden_size") && node["text_config"] is System.Text.Json.Nodes.JsonObject text)
            {
                foreach (var (key, value) in text)
                {
                    if (!node.ContainsKey(key))
                    {
                        node[key] = value?.DeepClone();
                    }
                }
            }

            config = node.Deserialize<Qwen2VLConfig>();
        }
        catch (JsonException ex)
        {
            throw new UserInputException(path, $"not a valid config.json: {ex.Message}", ex);
        }

        if (config is null)
        {
            throw new UserInputException(path, "config.json is empty (null)");
        }

        // A config.json that says the vocabulary is 152064 (the base Qwen2-VL) is common next to HPSv3.safetensors:
        // the checkpoint's embedding decides (docs/model.md#checkpoint-and-key-layouts). The caller passes the effective rows to WithVocab.
        config.Validate(path);
        return config;
    }

    /// <summary>Throws <see cref="UserInputException"/> naming the first field that is out of range.</summary>
    public void Validate(string source)
    {
        void Positive(string field, long value)
        {
            if (value <= 0)
            {
                throw new UserInputException(source, $"config field '{field}' must be positive (got {value})");
            }
        }

        Positive("hidden_size", HiddenSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("num_key_value_heads", NumKeyValueHeads);
        Positive("intermediate_size", IntermediateSize);
        Positive("vocab_size", VocabSize);
        if (HiddenSize % NumAttentionHeads != 0 || HeadDim % 2 != 0)
        {
            throw new UserInputException(source, $"config field 'hidden_size' ({HiddenSize}) must be a multiple of 2·num_attention_heads ({NumAttentionHeads})");
        }

        if (NumAttentionHeads % NumKeyValueHeads != 0)
        {
            throw new UserInputException(source, $"config field 'num_key_value_heads' ({NumKeyValueHeads}) must divide num_attention_heads ({NumAttentionHeads})");
        }

        if (!(RmsNormEps > 0) || !(RopeTheta > 0))
        {
            throw new UserInputException(source, $"config fields 'rms_norm_eps' ({RmsNormEps}) and 'rope_theta' ({RopeTheta}) must be positive");
        }

        if (HiddenAct != "silu")
        {
            throw new UserInputException(source, $"config field 'hidden_act' is '{HiddenAct}'; Qwen2-VL uses 'silu'");
        }

        VisionConfig.Validate(source, HiddenSize);
        CheckSize(source);
    }

    /// <summary>The most parameters a config may describe (≈ 120× the released 7B; 2 TB in bf16).</summary>
    public const double MaxParameters = 1e12;

    /// <summary>The most tensors a config may describe (the released 7B has 735).</summary>
    public const long MaxTensors = 100_000;

    /// <summary>
    /// Refuses a config.json that describes an absurd model (2e9 layers) before anything is allocated — the tensor
    /// table alone would exhaust memory — saying what it would need.
    /// </summary>
    private void CheckSize(string source)
    {
        var dims = ToDimensions();
        double parameters = dims.ParameterCount;
        long tensors = dims.TensorCount;
        if (parameters > MaxParameters || tensors > MaxTensors)
        {
            throw new UserInputException(source, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"config.json describes {NumHiddenLayers} decoder layers and {VisionConfig.Depth} vision blocks: {tensors:N0} tensors and {parameters:G3} parameters, which would need {Bytes(parameters * 2)} in bf16 ({Bytes(parameters * 4)} in fp32); refused before allocating (at most {MaxParameters:G0} parameters and {MaxTensors:N0} tensors; the released HPSv3 has {Hpsv3Dimensions.Released7B.ParameterCount:G3} in {Hpsv3Dimensions.Released7B.TensorCount})"));
        }
    }

    private static string Bytes(double n)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
        int u = 0;
        while (n >= 1000 && u < units.Length - 1)
        {
            n /= 1000;
            u++;
        }

        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{n:0.#} {units[u]}");
    }

    /// <summary>The sizes of this configuration (TorchSharp-free; see <see cref="FromDimensions"/>).</summary>
    public Hpsv3Dimensions ToDimensions() => new(
        HiddenSize, NumHiddenLayers, NumAttentionHeads, NumKeyValueHeads, IntermediateSize, VocabSize,
        VisionConfig.Depth, VisionConfig.EmbedDim, VisionConfig.MlpRatio, VisionConfig.InChans, VisionConfig.PatchSize,
        VisionConfig.TemporalPatchSize, VisionConfig.SpatialMergeSize, VisionConfig.NumHeads);
}

/// <summary>The <c>vision_config</c> block of a Qwen2-VL <c>config.json</c>; absent sizes default to the released 7B's.</summary>
public sealed record Qwen2VLVisionConfig
{
    [JsonPropertyName("depth")] public int Depth { get; init; } = Hpsv3Dimensions.Released7B.VisionDepth;

    [JsonPropertyName("embed_dim")] public int EmbedDim { get; init; } = Hpsv3Dimensions.Released7B.VisionEmbedDim;

    [JsonPropertyName("num_heads")] public int NumHeads { get; init; } = Hpsv3Dimensions.Released7B.VisionNumHeads;

    [JsonPropertyName("mlp_ratio")] public int MlpRatio { get; init; } = Hpsv3Dimensions.Released7B.VisionMlpRatio;

    /// <summary>The merger's output width (= the decoder hidden size).</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = Hpsv3Dimensions.Released7B.HiddenSize;

    [JsonPropertyName("in_chans")] public int InChans { get; init; } = 3;

    /// <summary>Older configs call it <c>in_channels</c>.</summary>
    [JsonPropertyName("in_channels")] public int? InChannels { get; init; }

    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 14;

    [JsonPropertyName("spatial_merge_size")] public int SpatialMergeSize { get; init; } = 2;

    [JsonPropertyName("temporal_patch_size")] public int TemporalPatchSize { get; init; } = 2;

    /// <summary>Absent from the released config: the class default <c>quick_gelu</c> applies (docs/model.md).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "quick_gelu";

    /// <summary>Vision head dimension (embed / heads).</summary>
    [JsonIgnore] public int HeadDim => EmbedDim / NumHeads;

    /// <summary>Elements of one flattened patch (channels · temporal · patch²; 1176 for Qwen2-VL).</summary>
    [JsonIgnore] public int PatchElements => InChans * TemporalPatchSize * PatchSize * PatchSize;

    internal void Validate(string source, int textHidden)
    {
        void Positive(string field, long value)
        {
            if (value <= 0)
            {
                throw new UserInputException(source, $"config field 'vision_config.{field}' must be positive (got {value})");
            }
        }

        Positive("depth", Depth);
        Positive("embed_dim", EmbedDim);
        Positive("num_heads", NumHeads);
        Positive("mlp_ratio", MlpRatio);
        Positive("patch_size", PatchSize);
        Positive("spatial_merge_size", SpatialMergeSize);
        Positive("temporal_patch_size", TemporalPatchSize);
        if (InChannels is { } ic && ic != InChans && InChans != 3)
        {
            throw new UserInputException(source, $"config fields 'vision_config.in_chans' ({InChans}) and 'in_channels' ({ic}) disagree");
        }

        if (EmbedDim % NumHeads != 0 || HeadDim % 4 != 0)
        {
            throw new UserInputException(source, $"config field 'vision_config.embed_dim' ({EmbedDim}) must be a multiple of 4·num_heads ({NumHeads})");
        }

        if (HiddenSize != textHidden)
        {
            throw new UserInputException(source, $"config field 'vision_config.hidden_size' ({HiddenSize}) must equal hidden_size ({textHidden}): the merger feeds the decoder");
        }

        if (HiddenAct != "quick_gelu")
        {
            throw new UserInputException(source, $"config field 'vision_config.hidden_act' is '{HiddenAct}'; only 'quick_gelu' (Qwen2-VL's) is supported");
        }
    }
}
