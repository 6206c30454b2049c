using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace HpsSharp.Core.Safetensors;

/// <summary>
/// Writes safetensors files atomically: the file is written to a temporary name in the same folder and renamed
/// over the destination only when complete, so a crash never leaves a truncated file where a good one was.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>One tensor to write: raw little-endian bytes of the given dtype and shape.</summary>
    public sealed record Entry(string Name, SafetensorsDtype Dtype, long[] Shape, ReadOnlyMemory<byte> Data)
    {
        public static Entry FromFloat32(string name, float[] data, long[] shape) =>
            new(name, SafetensorsDtype.F32, shape, MemoryMarshal.AsBytes(data.AsSpan()).ToArray());

        public static Entry FromInt64(string name, long[] data, long[] shape) =>
            new(name, SafetensorsDtype.I64, shape, MemoryMarshal.AsBytes(data.AsSpan()).ToArray());

        public static Entry FromUInt8(string name, byte[] data, long[] shape) =>
            new(name, SafetensorsDtype.U8, shape, data);

        /// <summary>Rounds each value to bfloat16 (nearest even).</summary>
        public static Entry FromBFloat16(string name, float[] data, long[] shape)
        {
            var bits = new ushort[data.Length];
            for (int i = 0; i < data.Length; i++)
            {
                bits[i] = SafetensorsDtypes.FloatToBFloat16(data[i]);
            }

            return new(name, SafetensorsDtype.BF16, shape, MemoryMarshal.AsBytes(bits.AsSpan()).ToArray());
        }
    }

    /// <summary>A tensor's header entry for <see cref="WriteStreaming"/>.</summary>
    public sealed record Header(string Name, SafetensorsDtype Dtype, long[] Shape)
    {
        public long ByteLength => Shape.Aggregate(1L, (a, b) => checked(a * b)) * SafetensorsDtypes.Size(Dtype);
    }

    /// <summary>Writes in-memory tensors (in the given order).</summary>
    public static void Write(string path, IEnumerable<Entry> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        WriteStreaming(path, list.Select(e => new Header(e.Name, e.Dtype, e.Shape)).ToList(), (i, stream) => stream.Write(list[i].Data.Span), metadata);
    }

    /// <summary>
    /// Writes a file whose tensor data is produced one tensor at a time by <paramref name="writeData"/> (index into
    /// <paramref name="headers"/>, output stream) — for conversions of files larger than memory. Each callback must
    /// write exactly that tensor's byte length.
    /// </summary>
    public static void WriteStreaming(string path, IReadOnlyList<Header> headers, Action<int, Stream> writeData, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(writeData);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var h in headers)
        {
            if (h.Name == "__metadata__" || !names.Add(h.Name))
            {
                throw new ArgumentException($"tensor name '{h.Name}' is reserved or duplicated", nameof(headers));
            }

            if (h.Shape.Any(d => d < 0))
            {
                throw new ArgumentException($"tensor '{h.Name}' has a negative dimension", nameof(headers));
            }
        }

        var headerBytes = BuildHeader(headers, metadata);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BitConverter.TryWriteBytes(len, (ulong)headerBytes.Length);
                fs.Write(len);
                fs.Write(headerBytes);
                for (int i = 0; i < headers.Count; i++)
                {
                    long before = fs.Position;
                    writeData(i, fs);
                    long written = fs.Position - before;
                    if (written != headers[i].ByteLength)
                    {
                        throw new InvalidDataException($"tensor '{headers[i].Name}': {written} bytes were written but {headers[i].ByteLength} were declared");
                    }
                }

                fs.Flush(flushToDisk: true);
            }

            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(tmp);
            }
            catch (IOException)
            {
            }

            throw;
        }
    }

    private static byte[] BuildHeader(IReadOnlyList<Header> headers, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata)
                {
                    w.WriteString(k, v);
                }

                w.WriteEndObject();
            }

            long offset = 0;
            foreach (var h in headers)
            {
                w.WriteStartObject(h.Name);
                w.WriteString("dtype", SafetensorsDtypes.Name(h.Dtype));
                w.WriteStartArray("shape");
                foreach (var d in h.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += h.ByteLength;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        // Pad with spaces so the data section starts 8-byte aligned (as the reference writer does).
        var bytes = ms.ToArray();
        int pad = (int)((8 - (bytes.Length % 8)) % 8);
        return pad == 0 ? bytes : [.. bytes, .. Encoding.ASCII.GetBytes(new string(' ', pad))];
    }
}
