using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;

namespace HpsSharp.Hub.Checkpoints;

/// <summary>Key layout of a converted checkpoint.</summary>
public enum TargetLayout
{
    /// <summary>As the source.</summary>
    Keep,

    /// <summary><c>visual.*</c>, <c>model.*</c>: the released file, transformers ≤ 4.51.</summary>
    Flat,

    /// <summary><c>model.visual.*</c>, <c>model.language_model.*</c>: transformers ≥ 4.52.</summary>
    LanguageModel,
}

/// <summary>Floating-point dtype of a converted checkpoint.</summary>
public enum TargetDtype
{
    /// <summary>As the source.</summary>
    Keep,

    /// <summary>Backbone in BF16 as released; <c>rm_head.*</c> stays F32 (the head always runs in fp32).</summary>
    BF16,

    /// <summary>Every floating tensor in F32 (BF16 → F32 is exact).</summary>
    F32,
}

/// <summary>How to convert.</summary>
public sealed record ConvertOptions
{
    public TargetLayout Layout { get; init; } = TargetLayout.Keep;

    public TargetDtype Dtype { get; init; } = TargetDtype.Keep;

    /// <summary>Largest shard in bytes (transformers' meaning: a tensor larger than this gets a shard of its own); null = one file.</summary>
    public long? MaxShardBytes { get; init; }

    /// <summary>Replace weights already in the output folder.</summary>
    public bool Overwrite { get; init; }
}

/// <summary>One tensor of the conversion plan.</summary>
public sealed record PlannedTensor(string SourceName, string TargetName, SafetensorsDtype SourceDtype, SafetensorsDtype TargetDtype, long[] Shape)
{
    public long TargetBytes => Shape.Aggregate(1L, (a, b) => a * b) * SafetensorsDtypes.Size(TargetDtype);
}

/// <summary>One output file of the plan.</summary>
public sealed record PlannedShard(string FileName, IReadOnlyList<PlannedTensor> Tensors)
{
    public long Bytes => Tensors.Sum(t => t.TargetBytes);
}

/// <summary>What a conversion writes (computed from headers only; <c>--dry-run</c> prints it).</summary>
/// <param name="OutputDir">The folder written to.</param>
/// <param name="Shards">Output files in order.</param>
/// <param name="IndexFile">The shard index written when there is more than one file, else null.</param>
/// <param name="SideFiles">Config/tokenizer files copied from the source folder.</param>
public sealed record ConvertPlan(string OutputDir, IReadOnlyList<PlannedShard> Shards, string? IndexFile, IReadOnlyList<string> SideFiles)
{
    public long TotalBytes => Shards.Sum(s => s.Bytes);

    public int TensorCount => Shards.Sum(s => s.Tensors.Count);
}

/// <summary>Bytes converted so far.</summary>
public sealed record ConvertProgress(long BytesDone, long TotalBytes, string Tensor);

/// <summary>
/// Converts checkpoints between the flat and <c>model.language_model.*</c> key layouts, BF16 and F32, one file and
/// shards — streaming tensor by tensor through a fixed buffer, so memory stays bounded (a few MB) whatever the size.
/// Each output file is written to a temporary name and renamed when complete; the index is written last.
/// </summary>
public static class CheckpointConverter
{
    /// <summary>The field errors about the output path name (the output is a parameter, not an option).</summary>
    public const string OutputField = "Out";

    /// <summary>Bytes read per step.</summary>
    internal const int ChunkBytes = 8 << 20;

    private static readonly string[] SideFileNames =
    [
        "config.json", "generation_config.json", "preprocessor_config.json", "chat_template.json",
        "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json",
    ];

    /// <summary>Parses sizes like <c>5GB</c>, <c>500MB</c>, <c>2GiB</c>, <c>123456</c>.</summary>
    public static long ParseSize(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var t = text.Trim().ToUpperInvariant();
        (string Suffix, long Factor)[] units = [("KIB", 1L << 10), ("MIB", 1L << 20), ("GIB", 1L << 30), ("KB", 1000L), ("MB", 1000_000L), ("GB", 1000_000_000L), ("B", 1L)];
        foreach (var (suffix, factor) in units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal))
            {
                t = t[..^suffix.Length].Trim();
                return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 ? (long)(v * factor)
                    : throw UserInputException.ForOption(nameof(ConvertOptions.MaxShardBytes), $"'{text}' is not a size like 5GB or 500MB");
            }
        }

        return long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
            : throw UserInputException.ForOption(nameof(ConvertOptions.MaxShardBytes), $"'{text}' is not a size like 5GB or 500MB");
    }

    /// <summary>The target name of a stored key.</summary>
    public static string MapKey(string key, TargetLayout layout) => layout switch
    {
        TargetLayout.Flat => Hpsv3Layout.Normalize(key),
        TargetLayout.LanguageModel => Hpsv3Layout.ToNested(key),
        _ => key,
    };

    /// <summary>The target dtype of a stored tensor.</summary>
    public static SafetensorsDtype MapDtype(string flatName, SafetensorsDtype dtype, TargetDtype target)
    {
        if (!SafetensorsDtypes.IsFloat(dtype))
        {
            return dtype;
        }

        return target switch
        {
            TargetDtype.F32 => SafetensorsDtype.F32,
            TargetDtype.BF16 => flatName.StartsWith("rm_head.", StringComparison.Ordinal) ? dtype : SafetensorsDtype.BF16,
            _ => dtype,
        };
    }

    /// <summary>
    /// The plan for converting <paramref name="source"/> into <paramref name="output"/>: a path ending in
    /// <c>.safetensors</c> is one file; otherwise a folder receiving <c>model.safetensors</c> or
    /// <c>model-0000i-of-0000n.safetensors</c> + <c>model.safetensors.index.json</c>, plus the source folder's
    /// config and tokenizer files.
    /// </summary>
    public static ConvertPlan Plan(SafetensorsModel source, string output, ConvertOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(output);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxShardBytes is <= 0)
        {
            throw UserInputException.ForOption(nameof(ConvertOptions.MaxShardBytes), $"must be positive");
        }

        var tensors = new List<PlannedTensor>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in source.Tensors)
        {
            var name = MapKey(t.Name, options.Layout);
            if (!seen.TryAdd(name, t.Name))
            {
                throw new UserInputException(source.Source, $"tensors '{seen[name]}' and '{t.Name}' both become '{name}' in the {options.Layout} layout");
            }

            tensors.Add(new PlannedTensor(t.Name, name, t.Dtype, MapDtype(Hpsv3Layout.Normalize(t.Name), t.Dtype, options.Dtype), t.Shape));
        }

        var full = Path.GetFullPath(output);
        bool singleFile = full.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);
        if (singleFile && options.MaxShardBytes is not null)
        {
            throw UserInputException.ForOption(OutputField, $"sharded output needs a folder, not a .safetensors file name");
        }

        var groups = new List<List<PlannedTensor>>();
        if (options.MaxShardBytes is { } max)
        {
            var current = new List<PlannedTensor>();
            long size = 0;
            foreach (var t in tensors)
            {
                if (current.Count > 0 && size + t.TargetBytes > max)
                {
                    groups.Add(current);
                    current = [];
                    size = 0;
                }

                current.Add(t);
                size += t.TargetBytes;
            }

            if (current.Count > 0)
            {
                groups.Add(current);
            }
        }
        else
        {
            groups.Add(tensors);
        }

        // Within a file, wider dtypes first: with contiguous data every tensor starts aligned to its element size.
        static IReadOnlyList<PlannedTensor> Ordered(List<PlannedTensor> g) =>
            g.OrderByDescending(t => SafetensorsDtypes.Size(t.TargetDtype)).ToList();

        var dir = singleFile ? Path.GetDirectoryName(full)! : full;
        List<PlannedShard> shards;
        string? index = null;
        if (singleFile)
        {
            shards = [new PlannedShard(Path.GetFileName(full), Ordered(groups[0]))];
        }
        else if (groups.Count == 1)
        {
            shards = [new PlannedShard("model.safetensors", Ordered(groups[0]))];
        }
        else
        {
            shards = groups.Select((g, i) => new PlannedShard(
                string.Create(CultureInfo.InvariantCulture, $"model-{i + 1:00000}-of-{groups.Count:00000}.safetensors"), Ordered(g))).ToList();
            index = "model.safetensors.index.json";
        }

        var sourceDir = Path.GetDirectoryName(source.Source)!;
        var sides = singleFile || string.Equals(sourceDir, dir, StringComparison.Ordinal) ? []
            : SideFileNames.Where(n => File.Exists(Path.Combine(sourceDir, n))).ToList();
        return new ConvertPlan(dir, shards, index, sides);
    }

    /// <summary>Converts <paramref name="input"/> (file, index or folder) into <paramref name="output"/>; returns what was written.</summary>
    public static ConvertPlan Convert(string input, string output, ConvertOptions options, IProgress<ConvertProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var source = SafetensorsModel.Open(input);
        var plan = Plan(source, output, options);
        var sourceFiles = source.Files.Select(f => Path.GetFullPath(f.Path)).ToHashSet(StringComparer.Ordinal);
        foreach (var shard in plan.Shards)
        {
            var target = Path.Combine(plan.OutputDir, shard.FileName);
            if (sourceFiles.Contains(Path.GetFullPath(target)) || sourceFiles.Contains(ResolveLinks(target)))
            {
                throw UserInputException.ForOption(OutputField, $"{target} is the input; write the conversion somewhere else");
            }
        }

        Directory.CreateDirectory(plan.OutputDir);
        if (!options.Overwrite)
        {
            var existing = Directory.EnumerateFiles(plan.OutputDir)
                .Where(f => plan.Shards.Any(s => s.FileName == Path.GetFileName(f)) || SafetensorsModel.FolderCandidates.Contains(Path.GetFileName(f))
                    || Path.GetFileName(f).StartsWith("model-", StringComparison.Ordinal))
                .Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".index.json", StringComparison.Ordinal))
                .ToList();
            if (existing.Count > 0)
            {
                throw UserInputException.ForOption(OutputField, $"{plan.OutputDir} already holds weights ({string.Join(", ", existing.Select(Path.GetFileName))}); choose an empty folder or pass {new OptionField(nameof(ConvertOptions.Overwrite))}");
            }
        }
        else if (plan.IndexFile is not null || plan.Shards.Count == 1)
        {
            // A stale file of another shape would shadow the new one when the folder is opened.
            foreach (var stale in SafetensorsModel.FolderCandidates.Where(n => plan.Shards.All(s => s.FileName != n) && n != plan.IndexFile))
            {
                var p = Path.Combine(plan.OutputDir, stale);
                if (File.Exists(p) && !sourceFiles.Contains(Path.GetFullPath(p)))
                {
                    File.Delete(p);
                }
            }
        }

        long total = plan.TotalBytes, done = 0;
        var metadata = new Dictionary<string, string>(source.Files[0].Metadata, StringComparer.Ordinal) { ["format"] = "pt" };
        var inBuffer = new byte[ChunkBytes];
        var outBuffer = new byte[ChunkBytes * 2];
        foreach (var shard in plan.Shards)
        {
            var headers = shard.Tensors.Select(t => new SafetensorsWriter.Header(t.TargetName, t.TargetDtype, t.Shape)).ToList();
            SafetensorsWriter.WriteStreaming(Path.Combine(plan.OutputDir, shard.FileName), headers, (i, stream) =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                var planned = shard.Tensors[i];
                var file = source.FileOf(planned.SourceName);
                CopyTensor(file, file[planned.SourceName], planned.TargetDtype, stream, inBuffer, outBuffer, n =>
                {
                    done += n;
                    progress?.Report(new ConvertProgress(done, total, planned.TargetName));
                });
            }, metadata);
        }

        if (plan.IndexFile is not null)
        {
            WriteIndex(Path.Combine(plan.OutputDir, plan.IndexFile), plan);
        }

        foreach (var side in plan.SideFiles)
        {
            var from = Path.Combine(Path.GetDirectoryName(source.Source)!, side);
            var to = Path.Combine(plan.OutputDir, side);
            var tmp = to + ".tmp";
            File.Copy(from, tmp, overwrite: true); // copies the content a snapshot link points at
            File.Move(tmp, to, overwrite: true);
        }

        return plan;
    }

    private static string ResolveLinks(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
        }
        catch (IOException)
        {
            return Path.GetFullPath(path);
        }
    }

    /// <summary>Streams one tensor through the buffers, converting the dtype on the way.</summary>
    private static void CopyTensor(SafetensorsFile file, TensorInfo tensor, SafetensorsDtype target, Stream output, byte[] inBuffer, byte[] outBuffer, Action<long> advanced)
    {
        int inSize = SafetensorsDtypes.Size(tensor.Dtype), outSize = SafetensorsDtypes.Size(target);
        using var handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        long offset = file.DataOffset + tensor.Begin, left = tensor.ByteLength;
        int step = inBuffer.Length / inSize * inSize;
        while (left > 0)
        {
            int want = (int)Math.Min(step, left);
            int got = 0;
            while (got < want)
            {
                int n = RandomAccess.Read(handle, inBuffer.AsSpan(got, want - got), offset + got);
                if (n <= 0)
                {
                    throw new SafetensorsException(file.Path, $"file ended inside tensor '{tensor.Name}'");
                }

                got += n;
            }

            offset += want;
            left -= want;
            if (tensor.Dtype == target)
            {
                output.Write(inBuffer, 0, want);
                advanced(want);
                continue;
            }

            int count = want / inSize;
            var src = inBuffer.AsSpan(0, want);
            var dst = outBuffer.AsSpan(0, count * outSize);
            if (tensor.Dtype == SafetensorsDtype.BF16 && target == SafetensorsDtype.F32 && BitConverter.IsLittleEndian)
            {
                // Exact widening: the bf16 bits are the high half of the f32.
                var from = MemoryMarshal.Cast<byte, ushort>(src);
                var to = MemoryMarshal.Cast<byte, uint>(dst);
                for (int k = 0; k < from.Length; k++)
                {
                    to[k] = (uint)from[k] << 16;
                }
            }
            else if (tensor.Dtype == SafetensorsDtype.F32 && target == SafetensorsDtype.BF16 && BitConverter.IsLittleEndian)
            {
                var from = MemoryMarshal.Cast<byte, float>(src);
                var to = MemoryMarshal.Cast<byte, ushort>(dst);
                for (int k = 0; k < from.Length; k++)
                {
                    to[k] = SafetensorsDtypes.FloatToBFloat16(from[k]);
                }
            }
            else
            {
                for (int k = 0; k < count; k++)
                {
                    float v = ReadFloat(src.Slice(k * inSize, inSize), tensor.Dtype);
                    WriteFloat(dst.Slice(k * outSize, outSize), v, target);
                }
            }

            output.Write(dst);
            advanced(dst.Length);
        }
    }

    private static float ReadFloat(ReadOnlySpan<byte> b, SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.BF16 => SafetensorsDtypes.BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(b)),
        SafetensorsDtype.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
        SafetensorsDtype.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
        SafetensorsDtype.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(b),
        _ => throw new NotSupportedException($"cannot convert {dtype} as floating point"),
    };

    private static void WriteFloat(Span<byte> b, float v, SafetensorsDtype dtype)
    {
        switch (dtype)
        {
            case SafetensorsDtype.BF16:
                BinaryPrimitives.WriteUInt16LittleEndian(b, SafetensorsDtypes.FloatToBFloat16(v));
                break;
            case SafetensorsDtype.F32:
                BinaryPrimitives.WriteSingleLittleEndian(b, v);
                break;
            case SafetensorsDtype.F16:
                BinaryPrimitives.WriteHalfLittleEndian(b, (Half)v);
                break;
            default:
                throw new NotSupportedException($"cannot write {dtype}");
        }
    }

    private static void WriteIndex(string path, ConvertPlan plan)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", plan.TotalBytes);
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (name, file) in plan.Shards.SelectMany(s => s.Tensors.Select(t => (t.TargetName, s.FileName))).OrderBy(p => p.TargetName, StringComparer.Ordinal))
            {
                w.WriteString(name, file);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        AtomicFile.WriteAllText(path, Encoding.UTF8.GetString(ms.ToArray()) + "\n");
    }
}
