using System.Text;
using HpsSharp.Core.Safetensors;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Safetensors;

[Trait("Category", "Unit")]
public sealed class SafetensorsTests
{
    [Fact]
    public void RoundTripsEveryDtypeWithAlignmentAndMetadata()
    {
        using var dir = TestPaths.TempDir();
        var path = dir.File("all.safetensors");
        var entries = new List<SafetensorsWriter.Entry>();
        foreach (var dtype in Enum.GetValues<SafetensorsDtype>())
        {
            int size = SafetensorsDtypes.Size(dtype);
            var data = Enumerable.Range(0, 6 * size).Select(i => (byte)(i * 7 + (int)dtype)).ToArray();
            entries.Add(new SafetensorsWriter.Entry("t." + dtype, dtype, [2, 3], data));
        }

        entries.Add(SafetensorsWriter.Entry.FromFloat32("scalar", [3.5f], []));
        SafetensorsWriter.Write(path, entries, new Dictionary<string, string> { ["format"] = "pt" });

        using var f = SafetensorsFile.Open(path);
        Assert.Equal(0, f.DataOffset % 8);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(entries.Select(e => e.Name), f.Tensors.Select(t => t.Name));
        foreach (var e in entries)
        {
            Assert.Equal(e.Dtype, f[e.Name].Dtype);
            Assert.Equal(e.Shape, f[e.Name].Shape);
            Assert.Equal(e.Data.ToArray(), f.ReadBytes(e.Name));
        }

        Assert.Equal([3.5f], f.ReadFloat32("scalar"));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void ConvertsFloatAndIntegerDtypes()
    {
        using var dir = TestPaths.TempDir();
        var path = dir.File("conv.safetensors");
        float[] values = [1f, -2.5f, 3.140625f, 1e-3f];
        SafetensorsWriter.Write(path,
        [
            SafetensorsWriter.Entry.FromBFloat16("bf", values, [4]),
            SafetensorsWriter.Entry.FromFloat32("f", values, [2, 2]),
            SafetensorsWriter.Entry.FromInt64("i", [1, -2, 3], [3]),
            new SafetensorsWriter.Entry("h", SafetensorsDtype.F16, [2], BitConverter.GetBytes((Half)1.5f).Concat(BitConverter.GetBytes((Half)(-0.25f))).ToArray()),
            new SafetensorsWriter.Entry("i8", SafetensorsDtype.I8, [2], new byte[] { 0xFF, 0x05 }),
        ]);
        using var f = SafetensorsFile.Open(path);
        var bf = f.ReadFloat32("bf");
        Assert.Equal(values[..3], bf[..3]); // exactly representable in bf16
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x3A830000), bf[3]); // 1e-3 = 0x3A83126F: the low half is below 0x8000, so it rounds down
        Assert.Equal(values, f.ReadFloat32("f"));
        Assert.Equal([1L, -2, 3], f.ReadInt64("i"));
        Assert.Equal([1.5f, -0.25f], f.ReadFloat32("h"));
        Assert.Equal([-1L, 5], f.ReadInt64("i8"));
        Assert.Throws<SafetensorsException>(() => f.ReadFloat32("i"));
        Assert.Throws<SafetensorsException>(() => f.ReadInt64("f"));
        var ex = Assert.Throws<SafetensorsException>(() => f["missing"]);
        Assert.Contains("missing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BFloat16RoundsToNearestEven()
    {
        // 1 + 2^-8 is halfway between two bf16 values: ties go to the even mantissa (1.0).
        Assert.Equal(1f, SafetensorsDtypes.BFloat16ToFloat(SafetensorsDtypes.FloatToBFloat16(1f + MathF.Pow(2, -8))));
        Assert.Equal(1f + MathF.Pow(2, -6), SafetensorsDtypes.BFloat16ToFloat(SafetensorsDtypes.FloatToBFloat16(1f + 3 * MathF.Pow(2, -8))));
        Assert.True(float.IsNaN(SafetensorsDtypes.BFloat16ToFloat(SafetensorsDtypes.FloatToBFloat16(float.NaN))));
    }

    [Fact]
    public void ReadsTheTinyFixtureCheckpoint()
    {
        using var f = SafetensorsFile.Open(TestPaths.Fixture("hpsv3-tiny/model.safetensors"));
        Assert.Equal(SafetensorsDtype.BF16, f["model.embed_tokens.weight"].Dtype);
        Assert.Equal([151658L, 32], f["model.embed_tokens.weight"].Shape);
        Assert.Equal(SafetensorsDtype.F32, f["rm_head.0.weight"].Dtype);
        Assert.Equal([1024L, 32], f["rm_head.0.weight"].Shape);
        Assert.Equal(1024 * 32, f.ReadFloat32("rm_head.0.weight").Length);
    }

    public static TheoryData<string, byte[], string> CorruptFiles()
    {
        static byte[] File(string header, int dataBytes, ulong? declaredLength = null)
        {
            var h = Encoding.UTF8.GetBytes(header);
            return [.. BitConverter.GetBytes(declaredLength ?? (ulong)h.Length), .. h, .. new byte[dataBytes]];
        }

        return new TheoryData<string, byte[], string>
        {
            { "empty", [], "too short" },
            { "header beyond file", File("{}", 0, 1000), "runs past the end" },
            { "header over 100 MB", File("{}", 0, 200_000_000), "exceeds" },
            { "invalid json", File("{\"a\": ", 0), "not valid JSON" },
            { "not an object", File("[1,2]", 0), "must be a JSON object" },
            { "unknown dtype", File("{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "unknown dtype 'F8'" },
            { "offsets out of range", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "run past the data section" },
            { "shape times dtype", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "needs 12 bytes" },
            { "overlap", File("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 8), "overlap" },
            { "negative offsets", File("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", 8), "invalid data_offsets" },
            { "missing shape", File("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 8), "'shape'" },
        };
    }

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void RejectsCorruptFilesWithAClearMessage(string label, byte[] content, string expected)
    {
        using var dir = TestPaths.TempDir();
        var path = dir.File(label.Replace(' ', '_') + ".safetensors");
        System.IO.File.WriteAllBytes(path, content);
        var ex = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OpensShardedIndexAndFolders()
    {
        using var dir = TestPaths.TempDir();
        SafetensorsWriter.Write(dir.File("model-00001-of-00002.safetensors"), [SafetensorsWriter.Entry.FromFloat32("a", [1, 2], [2])]);
        SafetensorsWriter.Write(dir.File("model-00002-of-00002.safetensors"), [SafetensorsWriter.Entry.FromFloat32("b", [3], [1])]);
        System.IO.File.WriteAllText(dir.File("model.safetensors.index.json"),
            "{\"metadata\":{\"total_size\":12},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        using (var m = SafetensorsModel.Open(dir.Path))
        {
            Assert.Equal(2, m.Files.Count);
            Assert.Equal(new[] { "a", "b" }, m.Tensors.Select(t => t.Name).Order());
            Assert.Equal([3f], m.FileOf("b").ReadFloat32("b"));
            Assert.Equal(12, m.TotalBytes);
        }

        System.IO.File.WriteAllText(dir.File("model.safetensors.index.json"),
            "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00001-of-00002.safetensors\"}}");
        var ex = Assert.Throws<SafetensorsException>(() => SafetensorsModel.Open(dir.Path));
        Assert.Contains("does not contain it", ex.Message, StringComparison.Ordinal);

        System.IO.File.WriteAllText(dir.File("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"../x.safetensors\"}}");
        Assert.Throws<SafetensorsException>(() => SafetensorsModel.Open(dir.Path));

        using var empty = TestPaths.TempDir();
        Assert.Throws<FileNotFoundException>(() => SafetensorsModel.Open(empty.Path));
    }

    [Fact]
    public void StreamingWriterChecksByteCountsAndLeavesNoPartialFile()
    {
        using var dir = TestPaths.TempDir();
        var path = dir.File("s.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsWriter.Entry.FromFloat32("keep", [1], [1])]);
        Assert.Throws<InvalidDataException>(() => SafetensorsWriter.WriteStreaming(path,
            [new SafetensorsWriter.Header("x", SafetensorsDtype.F32, [2])], (_, s) => s.Write(new byte[4])));
        using var f = SafetensorsFile.Open(path); // the earlier good file is intact
        Assert.Equal([1f], f.ReadFloat32("keep"));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
