using System.Globalization;

namespace HpsSharp.Core.Safetensors;

/// <summary>
/// The sizes of an HPSv3 model without TorchSharp: the Qwen2-VL decoder and vision tower sizes, and the vocabulary
/// rows after HPSv3's resize (151658 for the released checkpoint, docs/model.md#checkpoint-and-key-layouts). All but
/// <see cref="VisionNumHeads"/> fix the tensor table; the heads only split the vision width. <c>Qwen2VLConfig</c>
/// (Modeling) converts to and from it, and <see cref="Released7B"/> is the one definition of the released size.
/// </summary>
public sealed record Hpsv3Dimensions(
    int HiddenSize,
    int NumLayers,
    int NumHeads,
    int NumKeyValueHeads,
    int IntermediateSize,
    int VocabSize,
    int VisionDepth,
    int VisionEmbedDim,
    int VisionMlpRatio,
    int InChannels = 3,
    int PatchSize = 14,
    int TemporalPatchSize = 2,
    int SpatialMergeSize = 2,
    int VisionNumHeads = 16)
{
    /// <summary>The released HPSv3 (Qwen2-VL-7B-Instruct backbone, vocabulary resized to 151658 rows).</summary>
    public static Hpsv3Dimensions Released7B { get; } = new(3584, 28, 28, 4, 18944, Hpsv3Layout.ReleasedVocabSize, 32, 1280, 4);

    /// <summary>Width of one key/value projection (kv heads × head dim).</summary>
    public int KeyValueWidth => NumKeyValueHeads * (HiddenSize / NumHeads);

    /// <summary>Tensors of the table (<see cref="Hpsv3Layout.ExpectedTensors"/>), counted without building it.</summary>
    public long TensorCount => (12L * NumLayers) + (12L * VisionDepth) + 1 + 6 + 2 + 6;

    /// <summary>
    /// Parameters of the table, in floating point so that an absurd config.json (2e9 layers) gives a number instead
    /// of an overflow; computed with the formulas of <see cref="Hpsv3Layout.ExpectedTensors"/> without building it.
    /// </summary>
    public double ParameterCount
    {
        get
        {
            double e = VisionEmbedDim, m = e * VisionMlpRatio, merged = e * SpatialMergeSize * SpatialMergeSize;
            double h = HiddenSize, kv = (double)NumKeyValueHeads * (HiddenSize / Math.Max(1, NumHeads)), inter = IntermediateSize;
            double vision = (e * InChannels * TemporalPatchSize * PatchSize * PatchSize)
                + (VisionDepth * ((4 * e) + (3 * e * e) + (3 * e) + (e * e) + e + (m * e) + m + (e * m) + e))
                + (2 * e) + (merged * merged) + merged + (h * merged) + h;
            double decoder = ((double)VocabSize * h)
                + (NumLayers * ((h * h) + h + (2 * ((kv * h) + kv)) + (h * h) + (3 * inter * h) + (2 * h)))
                + h;
            double head = (1024 * h) + 1024 + (16 * 1024) + 16 + (2 * 16) + 2;
            return vision + decoder + head;
        }
    }
}

/// <summary>What a tensor of the HPSv3 state dict is for.</summary>
public enum Hpsv3TensorRole
{
    /// <summary>Qwen2-VL backbone (vision tower, merger, decoder): bf16 in the released file.</summary>
    Backbone,

    /// <summary>The reward head <c>rm_head.*</c>: fp32 in the released file and always run in fp32.</summary>
    RewardHead,
}

/// <summary>One tensor the HPSv3 scorer needs, under its flat (old transformers) name.</summary>
public sealed record Hpsv3ExpectedTensor(string Name, long[] Shape, Hpsv3TensorRole Role)
{
    /// <summary>The dtype this tensor has in the released checkpoint ("BF16" backbone, "F32" head).</summary>
    public string ReleasedDtype => Role == Hpsv3TensorRole.RewardHead ? "F32" : "BF16";

    /// <summary>The shape written like <c>[1280, 3, 2, 14, 14]</c>.</summary>
    public string ShapeText => Hpsv3Layout.FormatShape(Shape);
}

/// <summary>A tensor as a checkpoint declares it: its name as stored, dtype name (safetensors spelling) and shape.</summary>
public sealed record CheckpointTensor(string Name, string Dtype, long[] Shape);

/// <summary>A tensor whose shape or dtype is not what the model needs.</summary>
public sealed record Hpsv3TensorMismatch(string Name, string Expected, string Actual)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name}: expected {Expected}, found {Actual}";
}

/// <summary>Which key layout a checkpoint uses (docs/model.md#checkpoint-and-key-layouts).</summary>
public enum Hpsv3KeyLayout
{
    /// <summary>No backbone key recognised.</summary>
    Unknown,

    /// <summary>transformers ≤ 4.51: <c>visual.*</c>, <c>model.*</c> — the released HPSv3 file.</summary>
    Flat,

    /// <summary>transformers ≥ 4.52: <c>model.visual.*</c>, <c>model.language_model.*</c>.</summary>
    Nested,

    /// <summary>Both spellings occur in one checkpoint.</summary>
    Mixed,
}

/// <summary>The outcome of checking a checkpoint's tensor list against the HPSv3 table.</summary>
/// <param name="Layout">The key layout found.</param>
/// <param name="Missing">Expected (flat) names that the checkpoint lacks.</param>
/// <param name="Unexpected">Stored names the model has no place for (including duplicates after normalisation).</param>
/// <param name="Mismatched">Tensors with the wrong shape or a non-floating dtype.</param>
/// <param name="Ignored">Stored names that are deliberately skipped (<c>lm_head.weight</c>, rotary buffers).</param>
/// <param name="StoredNames">For each expected flat name found, the name as stored in the checkpoint.</param>
public sealed record Hpsv3LayoutCheck(
    Hpsv3KeyLayout Layout,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<Hpsv3TensorMismatch> Mismatched,
    IReadOnlyList<string> Ignored,
    IReadOnlyDictionary<string, string> StoredNames)
{
    /// <summary>True when every expected tensor is present once with the right shape and a floating dtype.</summary>
    public bool Ok => Missing.Count == 0 && Unexpected.Count == 0 && Mismatched.Count == 0;
}

/// <summary>
/// The HPSv3 state-dict table (docs/model.md#checkpoint-and-key-layouts) and key normalisation between the two
/// transformers layouts. Pure .NET, for what must not load libtorch: <c>hps model inspect/convert</c> and
/// <c>hps doctor</c>. The TorchSharp loader checks against the table of the model it builds on the meta device
/// (<c>Hpsv3Model.ParameterTable</c>) through <see cref="Check(IEnumerable{CheckpointTensor}, IReadOnlyList{Hpsv3ExpectedTensor})"/>;
/// a structure test pins this table to that one for the tiny and the released 7B configurations.
/// </summary>
public static class Hpsv3Layout
{
    /// <summary>Id of <c>&lt;|Reward|&gt;</c>, the token whose hidden state feeds the reward head.</summary>
    public const int RewardTokenId = HpsSharp.Core.Text.Qwen2Tokens.Reward;

    /// <summary>Embedding rows of the released checkpoint (151657 base tokens + <c>&lt;|Reward|&gt;</c>).</summary>
    public const int ReleasedVocabSize = 151658;

    /// <summary>File name of the released checkpoint on the Hub (<c>MizzenAI/HPSv3</c>).</summary>
    public const string ReleasedFileName = "HPSv3.safetensors";

    private const string NestedText = "model.language_model.";
    private const string NestedVision = "model.visual.";

    /// <summary>Maps a stored key to the flat name: <c>model.language_model.X</c> → <c>model.X</c>, <c>model.visual.X</c> → <c>visual.X</c>.</summary>
    public static string Normalize(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.StartsWith(NestedText, StringComparison.Ordinal))
        {
            return "model." + key[NestedText.Length..];
        }

        if (key.StartsWith(NestedVision, StringComparison.Ordinal))
        {
            return "visual." + key[NestedVision.Length..];
        }

        return key;
    }

    /// <summary>Maps a flat name to the nested (transformers ≥ 4.52) spelling; <c>rm_head.*</c> and <c>lm_head.*</c> are unchanged.</summary>
    public static string ToNested(string flatKey)
    {
        ArgumentNullException.ThrowIfNull(flatKey);
        var key = Normalize(flatKey);
        if (key.StartsWith("visual.", StringComparison.Ordinal))
        {
            return "model." + key;
        }

        if (key.StartsWith("model.", StringComparison.Ordinal))
        {
            return NestedText + key["model.".Length..];
        }

        return key;
    }

    /// <summary>The layout of a set of stored keys.</summary>
    public static Hpsv3KeyLayout DetectLayout(IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        bool flat = false, nested = false;
        foreach (var k in keys)
        {
            if (k.StartsWith(NestedText, StringComparison.Ordinal) || k.StartsWith(NestedVision, StringComparison.Ordinal))
            {
                nested = true;
            }
            else if (k.StartsWith("visual.", StringComparison.Ordinal) || k.StartsWith("model.", StringComparison.Ordinal))
            {
                flat = true;
            }
        }

        return (flat, nested) switch
        {
            (true, true) => Hpsv3KeyLayout.Mixed,
            (true, false) => Hpsv3KeyLayout.Flat,
            (false, true) => Hpsv3KeyLayout.Nested,
            _ => Hpsv3KeyLayout.Unknown,
        };
    }

    /// <summary>True for stored tensors the scorer deliberately skips: <c>lm_head.weight</c> (not used to score) and rotary buffers.</summary>
    public static bool IsIgnored(string flatKey)
    {
        ArgumentNullException.ThrowIfNull(flatKey);
        return flatKey == "lm_head.weight" || flatKey.EndsWith(".inv_freq", StringComparison.Ordinal);
    }

    /// <summary>True for the floating dtypes the loader converts from (safetensors spelling).</summary>
    public static bool IsFloatingDtype(string dtype) => dtype is "BF16" or "F16" or "F32" or "F64";

    /// <summary>Every tensor the HPSv3 scorer needs, under flat names, in checkpoint module order.</summary>
    public static IReadOnlyList<Hpsv3ExpectedTensor> ExpectedTensors(Hpsv3Dimensions dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        var list = new List<Hpsv3ExpectedTensor>();
        void B(string name, params long[] shape) => list.Add(new Hpsv3ExpectedTensor(name, shape, Hpsv3TensorRole.Backbone));
        void H(string name, params long[] shape) => list.Add(new Hpsv3ExpectedTensor(name, shape, Hpsv3TensorRole.RewardHead));

        long e = dims.VisionEmbedDim, m = (long)dims.VisionEmbedDim * dims.VisionMlpRatio;
        long merged = (long)dims.VisionEmbedDim * dims.SpatialMergeSize * dims.SpatialMergeSize;
        long h = dims.HiddenSize, kv = dims.KeyValueWidth, inter = dims.IntermediateSize;

        B("visual.patch_embed.proj.weight", e, dims.InChannels, dims.TemporalPatchSize, dims.PatchSize, dims.PatchSize);
        for (int i = 0; i < dims.VisionDepth; i++)
        {
            var p = string.Create(CultureInfo.InvariantCulture, $"visual.blocks.{i}.");
            B(p + "norm1.weight", e);
            B(p + "norm1.bias", e);
            B(p + "norm2.weight", e);
            B(p + "norm2.bias", e);
            B(p + "attn.qkv.weight", 3 * e, e);
            B(p + "attn.qkv.bias", 3 * e);
            B(p + "attn.proj.weight", e, e);
            B(p + "attn.proj.bias", e);
            B(p + "mlp.fc1.weight", m, e);
            B(p + "mlp.fc1.bias", m);
            B(p + "mlp.fc2.weight", e, m);
            B(p + "mlp.fc2.bias", e);
        }

        B("visual.merger.ln_q.weight", e);
        B("visual.merger.ln_q.bias", e);
        B("visual.merger.mlp.0.weight", merged, merged);
        B("visual.merger.mlp.0.bias", merged);
        B("visual.merger.mlp.2.weight", h, merged);
        B("visual.merger.mlp.2.bias", h);

        B("model.embed_tokens.weight", dims.VocabSize, h);
        for (int i = 0; i < dims.NumLayers; i++)
        {
            var p = string.Create(CultureInfo.InvariantCulture, $"model.layers.{i}.");
            B(p + "self_attn.q_proj.weight", h, h);
            B(p + "self_attn.q_proj.bias", h);
            B(p + "self_attn.k_proj.weight", kv, h);
            B(p + "self_attn.k_proj.bias", kv);
            B(p + "self_attn.v_proj.weight", kv, h);
            B(p + "self_attn.v_proj.bias", kv);
            B(p + "self_attn.o_proj.weight", h, h);
            B(p + "mlp.gate_proj.weight", inter, h);
            B(p + "mlp.up_proj.weight", inter, h);
            B(p + "mlp.down_proj.weight", h, inter);
            B(p + "input_layernorm.weight", h);
            B(p + "post_attention_layernorm.weight", h);
        }

        B("model.norm.weight", h);
        H("rm_head.0.weight", 1024, h);
        H("rm_head.0.bias", 1024);
        H("rm_head.3.weight", 16, 1024);
        H("rm_head.3.bias", 16);
        H("rm_head.5.weight", 2, 16);
        H("rm_head.5.bias", 2);
        return list;
    }

    /// <summary>
    /// Checks stored tensors against the table: every expected tensor present exactly once (after normalising the
    /// layout), with the expected shape and a floating dtype; everything else is unexpected unless ignored.
    /// </summary>
    public static Hpsv3LayoutCheck Check(IEnumerable<CheckpointTensor> stored, Hpsv3Dimensions dims) => Check(stored, ExpectedTensors(dims));

    /// <summary>
    /// Checks stored tensors against <paramref name="table"/> (flat names; for the loader, the table of the model it
    /// builds): every expected tensor present exactly once after normalising the layout, with the expected shape and
    /// a floating dtype; everything else is unexpected unless ignored.
    /// </summary>
    public static Hpsv3LayoutCheck Check(IEnumerable<CheckpointTensor> stored, IReadOnlyList<Hpsv3ExpectedTensor> table)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(table);
        var storedList = stored.ToList();
        var expected = table.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        var mismatched = new List<Hpsv3TensorMismatch>();
        var ignored = new List<string>();
        foreach (var t in storedList)
        {
            var flat = Normalize(t.Name);
            if (!expected.TryGetValue(flat, out var want))
            {
                if (IsIgnored(flat))
                {
                    ignored.Add(t.Name);
                }
                else
                {
                    unexpected.Add(t.Name);
                }

                continue;
            }

            if (found.TryGetValue(flat, out var first))
            {
                unexpected.Add($"{t.Name} (duplicate of {first})");
                continue;
            }

            found[flat] = t.Name;
            bool shapeOk = t.Shape.AsSpan().SequenceEqual(want.Shape);
            bool dtypeOk = IsFloatingDtype(t.Dtype);
            if (!shapeOk || !dtypeOk)
            {
                mismatched.Add(new Hpsv3TensorMismatch(
                    t.Name,
                    $"{want.ShapeText} floating (BF16/F16/F32/F64)",
                    $"{FormatShape(t.Shape)} {t.Dtype}"));
            }
        }

        var missing = expected.Keys.Where(k => !found.ContainsKey(k)).ToList();
        return new Hpsv3LayoutCheck(DetectLayout(storedList.Select(t => t.Name)), missing, unexpected, mismatched, ignored, found);
    }

    /// <summary>Checks the tensors of a safetensors file or sharded model (see the other overload).</summary>
    public static Hpsv3LayoutCheck Check(IEnumerable<TensorInfo> stored, Hpsv3Dimensions dims) => Check(stored, ExpectedTensors(dims));

    /// <summary>Checks the tensors of a safetensors file or sharded model against <paramref name="table"/>.</summary>
    public static Hpsv3LayoutCheck Check(IEnumerable<TensorInfo> stored, IReadOnlyList<Hpsv3ExpectedTensor> table)
    {
        ArgumentNullException.ThrowIfNull(stored);
        return Check(stored.Select(t => new CheckpointTensor(t.Name, SafetensorsDtypes.Name(t.Dtype), t.Shape)), table);
    }

    /// <summary>
    /// True when the stored tensors have exactly the released 7B shapes (docs/model.md#checkpoint-and-key-layouts), whatever their layout.
    /// </summary>
    public static bool HasReleasedShapes(IEnumerable<CheckpointTensor> stored) => Check(stored, Hpsv3Dimensions.Released7B).Ok;

    /// <summary>Formats a shape like <c>[3584, 18944]</c>.</summary>
    public static string FormatShape(IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return "[" + string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture))) + "]";
    }
}
