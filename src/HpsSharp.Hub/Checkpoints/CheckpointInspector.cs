using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HpsSharp.Core.Safetensors;

namespace HpsSharp.Hub.Checkpoints;

/// <summary>One tensor as a checkpoint stores it.</summary>
public sealed record TensorEntry(string Name, string Dtype, long[] Shape, long Bytes, string File);

/// <summary>What the tensors say about the model, read from names and shapes only.</summary>
/// <param name="Kind"><c>hpsv3</c> (Qwen2-VL + rm_head), <c>qwen2-vl</c>, <c>qwen2</c> or <c>unknown</c>.</param>
/// <param name="HiddenSize">Decoder width (embedding columns).</param>
/// <param name="Layers">Decoder layers.</param>
/// <param name="VocabRows">Embedding rows.</param>
/// <param name="KeyValueWidth">Rows of <c>k_proj</c> (KV heads × head dim).</param>
/// <param name="IntermediateSize">Rows of <c>gate_proj</c>.</param>
/// <param name="VisionDepth">Vision blocks.</param>
/// <param name="VisionEmbedDim">Vision width (patch embed rows).</param>
/// <param name="HasRewardHead"><c>rm_head.*</c> present.</param>
/// <param name="HasLmHead"><c>lm_head.weight</c> present.</param>
public sealed record CheckpointArchitecture(string Kind, long? HiddenSize, int? Layers, long? VocabRows, long? KeyValueWidth, long? IntermediateSize,
    int? VisionDepth, long? VisionEmbedDim, bool HasRewardHead, bool HasLmHead)
{
    /// <summary>One line for people.</summary>
    public string Describe()
    {
        var name = Kind switch
        {
            "hpsv3" => "HPSv3 reward model (Qwen2-VL backbone + rm_head)",
            "qwen2-vl" => "Qwen2-VL (no reward head)",
            "qwen2" => "Qwen2 decoder (no vision tower)",
            _ => "unrecognised",
        };
        var parts = new List<string>();
        if (HiddenSize is { } h)
        {
            parts.Add($"hidden {h}");
        }

        if (Layers is { } l)
        {
            parts.Add($"{l} layers");
        }

        if (KeyValueWidth is { } kv)
        {
            parts.Add($"kv width {kv}");
        }

        if (IntermediateSize is { } i)
        {
            parts.Add($"ffn {i}");
        }

        if (VocabRows is { } v)
        {
            parts.Add($"vocab {v}");
        }

        if (VisionDepth is { } d)
        {
            parts.Add($"vision {d}×{VisionEmbedDim}");
        }

        if (HasLmHead)
        {
            parts.Add("lm_head");
        }

        return parts.Count == 0 ? name : $"{name}: {string.Join(", ", parts)}";
    }
}

/// <summary>A check of the tensors against an HPSv3 table of given dimensions.</summary>
/// <param name="Against">What was checked against (<c>HPSv3-7B (released)</c>, <c>config.json</c>).</param>
/// <param name="Dimensions">The dimensions of that table.</param>
/// <param name="Check">Missing / unexpected / wrong-shape tensors.</param>
/// <param name="DtypeDifferences">Tensors whose dtype differs from the release (BF16 backbone, F32 head): loadable, not the released bytes.</param>
public sealed record LayoutCheckReport(string Against, Hpsv3Dimensions Dimensions, Hpsv3LayoutCheck Check, IReadOnlyList<Hpsv3TensorMismatch> DtypeDifferences)
{
    /// <summary>Every expected tensor is there with its shape (the scorer can load it).</summary>
    public bool Ok => Check.Ok;

    /// <summary>Keys, shapes, dtypes and the flat layout are those of the released file.</summary>
    public bool MatchesRelease => Check.Ok && DtypeDifferences.Count == 0 && Check.Layout == Hpsv3KeyLayout.Flat;
}

/// <summary>Everything <c>hps model inspect</c> reports about a checkpoint.</summary>
public sealed record CheckpointReport(
    string Path,
    string WeightsSource,
    IReadOnlyList<string> Files,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<TensorEntry> Tensors,
    Hpsv3KeyLayout Layout,
    CheckpointArchitecture Architecture,
    LayoutCheckReport Released,
    LayoutCheckReport? Config)
{
    public long TotalBytes => Tensors.Sum(t => t.Bytes);

    /// <summary>
    /// The released HPSv3, by the rule the scorer applies for <c>released_hpsv3</c>: a single file named
    /// HPSv3.safetensors with the released tensor table, dtypes and flat layout (headers only; values are not hashed).
    /// </summary>
    public bool IsReleasedHpsv3 => Released.MatchesRelease && Files.Count == 1 && System.IO.Path.GetFileName(Files[0]) == Hpsv3Layout.ReleasedFileName;

    public long Parameters => Tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>Tensor count and bytes per dtype.</summary>
    public IReadOnlyList<(string Dtype, int Count, long Bytes)> Dtypes =>
        Tensors.GroupBy(t => t.Dtype, StringComparer.Ordinal).OrderByDescending(g => g.Sum(t => t.Bytes))
            .Select(g => (g.Key, g.Count(), g.Sum(t => t.Bytes))).ToList();

    /// <summary>The report as one JSON document (snake_case, stable field names).</summary>
    public string ToJson(bool includeTensors = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("path", Path);
            w.WriteString("weights", WeightsSource);
            w.WriteStartArray("files");
            foreach (var f in Files)
            {
                w.WriteStringValue(f);
            }

            w.WriteEndArray();
            w.WriteNumber("tensor_count", Tensors.Count);
            w.WriteNumber("total_bytes", TotalBytes);
            w.WriteNumber("parameters", Parameters);
            w.WriteStartObject("dtypes");
            foreach (var (dtype, count, bytes) in Dtypes)
            {
                w.WriteStartObject(dtype);
                w.WriteNumber("tensors", count);
                w.WriteNumber("bytes", bytes);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteString("layout", LayoutName(Layout));
            w.WriteBoolean("released_hpsv3", IsReleasedHpsv3);
            w.WriteStartObject("metadata");
            foreach (var (k, v) in Metadata)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
            w.WriteStartObject("architecture");
            var a = Architecture;
            w.WriteString("kind", a.Kind);
            w.WriteString("description", a.Describe());
            WriteNullable(w, "hidden_size", a.HiddenSize);
            WriteNullable(w, "num_layers", a.Layers);
            WriteNullable(w, "vocab_rows", a.VocabRows);
            WriteNullable(w, "kv_width", a.KeyValueWidth);
            WriteNullable(w, "intermediate_size", a.IntermediateSize);
            WriteNullable(w, "vision_depth", a.VisionDepth);
            WriteNullable(w, "vision_embed_dim", a.VisionEmbedDim);
            w.WriteBoolean("reward_head", a.HasRewardHead);
            w.WriteBoolean("lm_head", a.HasLmHead);
            w.WriteEndObject();
            WriteCheck(w, "check", Released);
            if (Config is not null)
            {
                WriteCheck(w, "config_check", Config);
            }

            if (includeTensors)
            {
                w.WriteStartArray("tensors");
                foreach (var t in Tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteString("dtype", t.Dtype);
                    w.WriteStartArray("shape");
                    foreach (var d in t.Shape)
                    {
                        w.WriteNumberValue(d);
                    }

                    w.WriteEndArray();
                    w.WriteNumber("bytes", t.Bytes);
                    w.WriteString("file", t.File);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary><c>flat</c>, <c>language_model</c> (transformers ≥ 4.52), <c>mixed</c> or <c>unknown</c>.</summary>
    public static string LayoutName(Hpsv3KeyLayout layout) => layout switch
    {
        Hpsv3KeyLayout.Flat => "flat",
        Hpsv3KeyLayout.Nested => "language_model",
        Hpsv3KeyLayout.Mixed => "mixed",
        _ => "unknown",
    };

    private static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteCheck(Utf8JsonWriter w, string name, LayoutCheckReport r)
    {
        w.WriteStartObject(name);
        w.WriteString("against", r.Against);
        w.WriteBoolean("ok", r.Ok);
        w.WriteBoolean("matches_release", r.MatchesRelease);
        w.WriteNumber("expected_tensors", Hpsv3Layout.ExpectedTensors(r.Dimensions).Count);
        WriteStrings(w, "missing", r.Check.Missing);
        WriteStrings(w, "unexpected", r.Check.Unexpected);
        WriteStrings(w, "ignored", r.Check.Ignored);
        WriteMismatches(w, "mismatched", r.Check.Mismatched);
        WriteMismatches(w, "dtype_differences", r.DtypeDifferences);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteStringValue(v);
        }

        w.WriteEndArray();
    }

    private static void WriteMismatches(Utf8JsonWriter w, string name, IEnumerable<Hpsv3TensorMismatch> values)
    {
        w.WriteStartArray(name);
        foreach (var m in values)
        {
            w.WriteStartObject();
            w.WriteString("name", m.Name);
            w.WriteString("expected", m.Expected);
            w.WriteString("actual", m.Actual);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }
}

/// <summary>
/// Reads a checkpoint's headers only (instant on a 16 GB file): tensor table, key layout, the architecture the shapes
/// imply, and a check against the released HPSv3-7B table and, when a <c>config.json</c> sits beside the weights,
/// against the dimensions it declares.
/// </summary>
public static partial class CheckpointInspector
{
    /// <summary>Inspects a <c>.safetensors</c> file, a <c>model.safetensors.index.json</c> or a model folder.</summary>
    public static CheckpointReport Inspect(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var model = SafetensorsModel.Open(path);
        var root = System.IO.Path.GetDirectoryName(model.Source)!;
        var tensors = model.Tensors.Select(t => new TensorEntry(t.Name, SafetensorsDtypes.Name(t.Dtype), t.Shape, t.ByteLength,
            System.IO.Path.GetFileName(model.FileOf(t.Name).Path))).ToList();
        var metadata = model.Files[0].Metadata;
        var layout = Hpsv3Layout.DetectLayout(tensors.Select(t => t.Name));
        var released = CheckAgainst("HPSv3-7B (released)", Hpsv3Dimensions.Released7B, model.Tensors);
        LayoutCheckReport? config = null;
        var configPath = System.IO.Path.Combine(root, "config.json");
        if (File.Exists(configPath) && DimensionsFromConfig(configPath) is { } dims && dims != Hpsv3Dimensions.Released7B)
        {
            config = CheckAgainst("config.json", dims, model.Tensors);
        }

        return new CheckpointReport(System.IO.Path.GetFullPath(path), model.Source,
            model.Files.Select(f => f.Path).ToList(), metadata, tensors, layout, Architecture(tensors), released, config);
    }

    /// <summary>Checks tensors against the HPSv3 table of <paramref name="dims"/>, noting dtypes that differ from the release.</summary>
    public static LayoutCheckReport CheckAgainst(string against, Hpsv3Dimensions dims, IReadOnlyList<TensorInfo> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var check = Hpsv3Layout.Check(tensors, dims);
        var expected = Hpsv3Layout.ExpectedTensors(dims).ToDictionary(t => t.Name, StringComparer.Ordinal);
        var dtype = new List<Hpsv3TensorMismatch>();
        foreach (var t in tensors)
        {
            if (expected.TryGetValue(Hpsv3Layout.Normalize(t.Name), out var want) && SafetensorsDtypes.Name(t.Dtype) != want.ReleasedDtype
                && Hpsv3Layout.IsFloatingDtype(SafetensorsDtypes.Name(t.Dtype)))
            {
                dtype.Add(new Hpsv3TensorMismatch(t.Name, want.ReleasedDtype, SafetensorsDtypes.Name(t.Dtype)));
            }
        }

        return new LayoutCheckReport(against, dims, check, dtype);
    }

    /// <summary>
    /// The table dimensions a Qwen2-VL <c>config.json</c> declares. The vocabulary is HPSv3's 151658 rows when the
    /// config has the base model's larger vocabulary (HPSv3 shrinks the embedding to its tokenizer, docs/model.md#checkpoint-and-key-layouts).
    /// </summary>
    public static Hpsv3Dimensions? DimensionsFromConfig(string configPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configPath);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
        var r = doc.RootElement;
        var text = r.TryGetProperty("text_config", out var tc) && tc.ValueKind == JsonValueKind.Object ? tc : r;
        if (!r.TryGetProperty("vision_config", out var v) || v.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        int? I(JsonElement e, string name) => e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : null;
        int? hidden = I(text, "hidden_size") ?? I(r, "hidden_size"), layers = I(text, "num_hidden_layers") ?? I(r, "num_hidden_layers");
        int? heads = I(text, "num_attention_heads") ?? I(r, "num_attention_heads"), inter = I(text, "intermediate_size") ?? I(r, "intermediate_size");
        int? vocab = I(text, "vocab_size") ?? I(r, "vocab_size"), depth = I(v, "depth"), embed = I(v, "embed_dim");
        if (hidden is null || layers is null || heads is null || inter is null || vocab is null || depth is null || embed is null)
        {
            throw new InvalidDataException($"{configPath}: a Qwen2-VL config needs hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, vocab_size, vision_config.depth and vision_config.embed_dim");
        }

        int kv = I(text, "num_key_value_heads") ?? I(r, "num_key_value_heads") ?? heads.Value;
        return new Hpsv3Dimensions(hidden.Value, layers.Value, heads.Value, kv, inter.Value,
            vocab.Value > Hpsv3Layout.ReleasedVocabSize ? Hpsv3Layout.ReleasedVocabSize : vocab.Value,
            depth.Value, embed.Value, I(v, "mlp_ratio") ?? 4, I(v, "in_chans") ?? I(v, "in_channels") ?? 3, I(v, "patch_size") ?? 14,
            I(v, "temporal_patch_size") ?? 2, I(v, "spatial_merge_size") ?? 2, I(v, "num_heads") ?? Hpsv3Dimensions.Released7B.VisionNumHeads);
    }

    /// <summary>The architecture the (normalised) names and shapes imply.</summary>
    public static CheckpointArchitecture Architecture(IReadOnlyList<TensorEntry> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var byName = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            byName.TryAdd(Hpsv3Layout.Normalize(t.Name), t);
        }

        long? Dim(string name, int axis) => byName.TryGetValue(name, out var t) && t.Shape.Length > axis ? t.Shape[axis] : null;
        int? Count(Regex regex)
        {
            var set = byName.Keys.Select(k => regex.Match(k)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
            return set.Count == 0 ? null : set.Count;
        }

        int? layers = Count(LayerRegex());
        int? vision = Count(VisionBlockRegex());
        bool rm = byName.Keys.Any(k => k.StartsWith("rm_head.", StringComparison.Ordinal));
        var kind = layers is null ? "unknown" : vision is null ? "qwen2" : rm ? "hpsv3" : "qwen2-vl";
        return new CheckpointArchitecture(kind,
            Dim("model.embed_tokens.weight", 1) ?? Dim("model.norm.weight", 0),
            layers,
            Dim("model.embed_tokens.weight", 0),
            Dim("model.layers.0.self_attn.k_proj.weight", 0),
            Dim("model.layers.0.mlp.gate_proj.weight", 0),
            vision,
            Dim("visual.patch_embed.proj.weight", 0),
            rm,
            byName.ContainsKey("lm_head.weight"));
    }

    /// <summary>A shape written like <c>[3584, 18944]</c>.</summary>
    public static string Shape(long[] shape) => "[" + string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture))) + "]";

    [GeneratedRegex(@"^model\.layers\.(\d+)\.")]
    private static partial Regex LayerRegex();

    [GeneratedRegex(@"^visual\.blocks\.(\d+)\.")]
    private static partial Regex VisionBlockRegex();
}
