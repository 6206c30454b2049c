using System.Text;
using System.Text.Json;
using HpsSharp.Core.Safetensors;

namespace HpsSharp.Hub.Tests;

/// <summary>Checkpoints made for tests: header-only (sparse) files of any size, and small random ones.</summary>
internal static class Checkpoints
{
    /// <summary>The released HPSv3 table (plus lm_head) with the release's dtypes, optionally in the nested layout.</summary>
    public static List<(string Name, SafetensorsDtype Dtype, long[] Shape)> ReleasedTable(Hpsv3Dimensions? dims = null, bool nested = false, bool lmHead = true)
    {
        var d = dims ?? Hpsv3Dimensions.Released7B;
        var list = Hpsv3Layout.ExpectedTensors(d)
            .Select(t => (nested ? Hpsv3Layout.ToNested(t.Name) : t.Name, t.ReleasedDtype == "F32" ? SafetensorsDtype.F32 : SafetensorsDtype.BF16, t.Shape))
            .ToList();
        if (lmHead)
        {
            list.Insert(list.FindIndex(t => t.Item1.EndsWith("norm.weight", StringComparison.Ordinal) && !t.Item1.Contains("layers", StringComparison.Ordinal)) + 1,
                ("lm_head.weight", SafetensorsDtype.BF16, [d.VocabSize, d.HiddenSize]));
        }

        return list;
    }

    /// <summary>
    /// Writes a valid safetensors header for the tensors and extends the file to its full length without writing
    /// data: a sparse file (no disk used on ext4/overlay/tmpfs), whose data reads as zeros.
    /// </summary>
    public static long WriteSparse(string path, IEnumerable<(string Name, SafetensorsDtype Dtype, long[] Shape)> tensors)
    {
        using var ms = new MemoryStream();
        long offset = 0;
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            w.WriteEndObject();
            foreach (var (name, dtype, shape) in tensors)
            {
                long bytes = shape.Aggregate(1L, (a, b) => a * b) * SafetensorsDtypes.Size(dtype);
                w.WriteStartObject(name);
                w.WriteString("dtype", SafetensorsDtypes.Name(dtype));
                w.WriteStartArray("shape");
                foreach (var s in shape)
                {
                    w.WriteNumberValue(s);
                }

                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }

            w.WriteEndObject();
        }

        var header = ms.ToArray().ToList();
        while ((header.Count % 8) != 0)
        {
            header.Add((byte)' ');
        }

        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write);
        fs.Write(BitConverter.GetBytes((ulong)header.Count));
        fs.Write(header.ToArray());
        fs.SetLength(8 + header.Count + offset);
        return 8 + header.Count + offset;
    }

    /// <summary>A small checkpoint with random data for the given table.</summary>
    public static void WriteRandom(string path, IEnumerable<(string Name, SafetensorsDtype Dtype, long[] Shape)> tensors, int seed)
    {
        var rng = new Random(seed);
        var entries = tensors.Select(t =>
        {
            var n = (int)t.Shape.Aggregate(1L, (a, b) => a * b);
            var values = new float[n];
            for (int i = 0; i < n; i++)
            {
                values[i] = (float)(rng.NextDouble() * 2 - 1);
            }

            return t.Dtype == SafetensorsDtype.BF16
                ? SafetensorsWriter.Entry.FromBFloat16(t.Name, values, t.Shape)
                : SafetensorsWriter.Entry.FromFloat32(t.Name, values, t.Shape);
        }).ToList();
        SafetensorsWriter.Write(path, entries, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>All 7B key names (28 layers, 32 vision blocks) with tiny widths.</summary>
    public static Hpsv3Dimensions FullKeySetTinyWidths => new(16, 28, 4, 2, 24, 64, 32, 8, 4);

    public static string Utf8(byte[] b) => Encoding.UTF8.GetString(b);
}
