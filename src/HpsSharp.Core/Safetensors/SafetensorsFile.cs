using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace HpsSharp.Core.Safetensors;

/// <summary>
/// A safetensors file opened for reading: the header is parsed and fully validated on open; tensor data is read
/// on demand with positional reads (no whole-file buffering). Model code memory-maps the same file using
/// <see cref="DataOffset"/> and each tensor's offsets.
/// </summary>
/// <remarks>
/// Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// (<c>{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>), then the
/// data section; offsets are relative to the data section.
/// </remarks>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, TensorInfo> _byName;

    private SafetensorsFile(string path, SafeFileHandle handle, long length, long dataOffset, List<TensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        FileLength = length;
        DataOffset = dataOffset;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>File length in bytes.</summary>
    public long FileLength { get; }

    /// <summary>Absolute file offset of the data section (8 + header length).</summary>
    public long DataOffset { get; }

    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The entry named <paramref name="name"/>; throws naming the file when absent.</summary>
    public TensorInfo this[string name] => _byName.TryGetValue(name, out var t)
        ? t
        : throw new SafetensorsException(Path, $"no tensor named '{name}'");

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Opens and validates a file.</summary>
    public static SafetensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"safetensors file not found: {full}", full);
        }

        var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long length = RandomAccess.GetLength(handle);
            var (dataOffset, tensors, metadata) = ParseHeader(full, handle, length);
            return new SafetensorsFile(full, handle, length, dataOffset, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Raw little-endian bytes of a tensor.</summary>
    public byte[] ReadBytes(string name)
    {
        var t = this[name];
        if (t.ByteLength > Array.MaxLength)
        {
            throw new SafetensorsException(Path, $"tensor '{name}' has {t.ByteLength} bytes, too large for one array; memory-map it instead");
        }

        var buffer = new byte[t.ByteLength];
        ReadInto(t, buffer);
        return buffer;
    }

    /// <summary>Reads a tensor's raw bytes into <paramref name="destination"/> (exactly its byte length).</summary>
    public void ReadInto(TensorInfo tensor, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (destination.Length != tensor.ByteLength)
        {
            throw new ArgumentException($"destination has {destination.Length} bytes, tensor '{tensor.Name}' has {tensor.ByteLength}", nameof(destination));
        }

        long offset = DataOffset + tensor.Begin;
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(_handle, destination, offset);
            if (n <= 0)
            {
                throw new SafetensorsException(Path, $"unexpected end of file while reading '{tensor.Name}'");
            }

            destination = destination[n..];
            offset += n;
        }
    }

    /// <summary>A floating-point tensor (BF16, F16, F32, F64) as float32 values.</summary>
    public float[] ReadFloat32(string name)
    {
        var t = this[name];
        var raw = ReadBytes(name);
        var result = new float[t.ElementCount];
        switch (t.Dtype)
        {
            case SafetensorsDtype.F32:
                MemoryMarshal.Cast<byte, float>(raw).CopyTo(result);
                break;
            case SafetensorsDtype.BF16:
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = SafetensorsDtypes.BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * i)));
                }

                break;
            case SafetensorsDtype.F16:
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw.AsSpan(2 * i));
                }

                break;
            case SafetensorsDtype.F64:
                for (int i = 0; i < result.Length; i++)
                {
                    result[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw.AsSpan(8 * i));
                }

                break;
            default:
                throw new SafetensorsException(Path, $"tensor '{name}' is {t.Dtype}, not a floating-point tensor");
        }

        return result;
    }

    /// <summary>An integer or boolean tensor as int64 values.</summary>
    public long[] ReadInt64(string name)
    {
        var t = this[name];
        var raw = ReadBytes(name);
        var result = new long[t.ElementCount];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = t.Dtype switch
            {
                SafetensorsDtype.I64 => BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(8 * i)),
                SafetensorsDtype.U64 => checked((long)BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(8 * i))),
                SafetensorsDtype.I32 => BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(4 * i)),
                SafetensorsDtype.U32 => BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(4 * i)),
                SafetensorsDtype.I16 => BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(2 * i)),
                SafetensorsDtype.U16 => BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * i)),
                SafetensorsDtype.I8 => (sbyte)raw[i],
                SafetensorsDtype.U8 or SafetensorsDtype.BOOL => raw[i],
                _ => throw new SafetensorsException(Path, $"tensor '{name}' is {t.Dtype}, not an integer tensor"),
            };
        }

        return result;
    }

    /// <summary>A U8 (or BOOL) tensor's bytes.</summary>
    public byte[] ReadUInt8(string name)
    {
        var t = this[name];
        if (t.Dtype is not (SafetensorsDtype.U8 or SafetensorsDtype.BOOL))
        {
            throw new SafetensorsException(Path, $"tensor '{name}' is {t.Dtype}, not U8");
        }

        return ReadBytes(name);
    }

    public void Dispose() => _handle.Dispose();

    private static (long DataOffset, List<TensorInfo> Tensors, Dictionary<string, string> Metadata) ParseHeader(string path, SafeFileHandle handle, long length)
    {
        if (length < 8)
        {
            throw new SafetensorsException(path, $"file is {length} bytes long, too short for the 8-byte header length");
        }

        Span<byte> lenBytes = stackalloc byte[8];
        RandomAccess.Read(handle, lenBytes, 0);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n > MaxHeaderBytes)
        {
            throw new SafetensorsException(path, $"header length {n} exceeds the {MaxHeaderBytes}-byte limit");
        }

        if ((long)n > length - 8)
        {
            throw new SafetensorsException(path, $"header length {n} runs past the end of the file ({length} bytes)");
        }

        var header = new byte[n];
        int read = 0;
        while (read < header.Length)
        {
            int r = RandomAccess.Read(handle, header.AsSpan(read), 8 + read);
            if (r <= 0)
            {
                throw new SafetensorsException(path, "unexpected end of file inside the header");
            }

            read += r;
        }

        long dataOffset = 8 + (long)n;
        long dataLength = length - dataOffset;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException ex)
        {
            throw new SafetensorsException(path, $"header is not valid JSON: {ex.Message}", ex);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsException(path, $"header must be a JSON object, found {doc.RootElement.ValueKind}");
            }

            var tensors = new List<TensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                {
                    throw new SafetensorsException(path, $"tensor '{prop.Name}' appears twice in the header");
                }

                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw new SafetensorsException(path, "__metadata__ must be an object of strings");
                    }

                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                        {
                            throw new SafetensorsException(path, $"__metadata__ value '{m.Name}' must be a string");
                        }

                        metadata[m.Name] = m.Value.GetString()!;
                    }

                    continue;
                }

                tensors.Add(ParseEntry(path, prop, dataLength));
            }

            var sorted = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
            for (int i = 1; i < sorted.Count; i++)
            {
                if (sorted[i].Begin < sorted[i - 1].End)
                {
                    throw new SafetensorsException(path, $"tensors '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End}) and '{sorted[i].Name}' [{sorted[i].Begin}, {sorted[i].End}) overlap");
                }
            }

            return (dataOffset, tensors, metadata);
        }
    }

    private static TensorInfo ParseEntry(string path, JsonProperty prop, long dataLength)
    {
        var name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsException(path, $"tensor '{name}': entry must be an object");
        }

        if (!v.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
        {
            throw new SafetensorsException(path, $"tensor '{name}': missing string field 'dtype'");
        }

        if (!SafetensorsDtypes.TryParse(dtypeEl.GetString(), out var dtype))
        {
            throw new SafetensorsException(path, $"tensor '{name}': unknown dtype '{dtypeEl.GetString()}'");
        }

        if (!v.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
        {
            throw new SafetensorsException(path, $"tensor '{name}': missing array field 'shape'");
        }

        var shape = new long[shapeEl.GetArrayLength()];
        int k = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
            {
                throw new SafetensorsException(path, $"tensor '{name}': shape entries must be non-negative integers");
            }

            shape[k++] = dim;
        }

        if (!v.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
        {
            throw new SafetensorsException(path, $"tensor '{name}': 'data_offsets' must be [begin, end]");
        }

        if (!offEl[0].TryGetInt64(out var begin) || !offEl[1].TryGetInt64(out var end) || begin < 0 || end < begin)
        {
            throw new SafetensorsException(path, $"tensor '{name}': invalid data_offsets [{offEl[0]}, {offEl[1]}]");
        }

        if (end > dataLength)
        {
            throw new SafetensorsException(path, $"tensor '{name}': data_offsets [{begin}, {end}) run past the data section ({dataLength} bytes)");
        }

        long elements;
        try
        {
            elements = shape.Aggregate(1L, (a, b) => checked(a * b));
            long expected = checked(elements * SafetensorsDtypes.Size(dtype));
            if (expected != end - begin)
            {
                throw new SafetensorsException(path, $"tensor '{name}': shape [{string.Join(", ", shape)}] × {dtype} needs {expected} bytes but data_offsets give {end - begin}");
            }
        }
        catch (OverflowException)
        {
            throw new SafetensorsException(path, $"tensor '{name}': shape [{string.Join(", ", shape)}] is too large");
        }

        return new TensorInfo(name, dtype, shape, begin, end);
    }
}
