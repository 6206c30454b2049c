using System.Buffers.Binary;
using System.Text.Json;

namespace HpsSharp.Core.Tests.Text;

/// <summary>Reads one I64 tensor of a safetensors file (test helper until the Core reader is on main).</summary>
internal static class SafetensorsI64
{
    public static long[] Read(string path, string name)
    {
        var bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var info = header.RootElement.GetProperty(name);
        if (info.GetProperty("dtype").GetString() != "I64")
        {
            throw new InvalidDataException($"{path}: {name} is not I64");
        }

        var offsets = info.GetProperty("data_offsets");
        int begin = 8 + (int)headerLength + offsets[0].GetInt32();
        int end = 8 + (int)headerLength + offsets[1].GetInt32();
        var result = new long[(end - begin) / 8];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(begin + 8 * i));
        }

        return result;
    }
}
