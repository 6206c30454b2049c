using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Hub.Checkpoints;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Hub.Tests;

[Trait("Category", "Unit")]
public sealed class CheckpointConverterTests
{
    private static string Tiny => TestPaths.Fixture("hpsv3-tiny");

    [Fact]
    public void FlatToLanguageModelKeepsEveryByteAndCopiesTheConfig()
    {
        using var tmp = new TempDir();
        var outDir = tmp.File("nested");

        var plan = CheckpointConverter.Convert(Tiny, outDir, new ConvertOptions { Layout = TargetLayout.LanguageModel });

        using var src = SafetensorsModel.Open(Tiny);
        using var dst = SafetensorsModel.Open(outDir);
        Assert.Equal(src.Tensors.Count, dst.Tensors.Count);
        Assert.Contains("config.json", plan.SideFiles);
        Assert.True(File.Exists(Path.Combine(outDir, "config.json")));
        foreach (var t in src.Tensors)
        {
            var name = Hpsv3Layout.ToNested(t.Name);
            Assert.True(dst.Contains(name), name);
            Assert.Equal(t.Dtype, dst[name].Dtype);
            Assert.Equal(src.FileOf(t.Name).ReadBytes(t.Name), dst.FileOf(name).ReadBytes(name));
        }

        Assert.Contains(dst.Tensors, t => t.Name == "model.language_model.layers.1.mlp.up_proj.weight");
        Assert.Contains(dst.Tensors, t => t.Name == "model.visual.blocks.0.attn.qkv.weight");
        Assert.Contains(dst.Tensors, t => t.Name == "rm_head.0.weight");
        var report = CheckpointInspector.Inspect(outDir);
        Assert.Equal(Hpsv3KeyLayout.Nested, report.Layout);
        Assert.True(report.Config!.Ok);
    }

    [Fact]
    public void Fp32ShardsAndBackToBf16SingleFileIsLossless()
    {
        using var tmp = new TempDir();
        var shards = tmp.File("fp32-sharded");
        var back = tmp.File("roundtrip.safetensors");

        var plan = CheckpointConverter.Convert(Tiny, shards, new ConvertOptions { Layout = TargetLayout.LanguageModel, Dtype = TargetDtype.F32, MaxShardBytes = 10_000_000 });
        CheckpointConverter.Convert(shards, back, new ConvertOptions { Layout = TargetLayout.Flat, Dtype = TargetDtype.BF16 });

        Assert.Equal(3, plan.Shards.Count); // embed and lm_head (19 MB in F32) each alone, the rest together
        Assert.Equal("model.safetensors.index.json", plan.IndexFile);
        Assert.All(plan.Shards.Where(s => s.Tensors.Count > 1), s => Assert.True(s.Bytes <= 10_000_000, s.FileName));
        using (var sharded = SafetensorsModel.Open(shards))
        {
            Assert.All(sharded.Tensors, t => Assert.Equal(SafetensorsDtype.F32, t.Dtype));
            Assert.Equal(plan.Shards.Count, sharded.Files.Count);
            using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(shards, "model.safetensors.index.json")));
            Assert.Equal(plan.TotalBytes, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        }

        using var src = SafetensorsFile.Open(Path.Combine(Tiny, "model.safetensors"));
        using var dst = SafetensorsFile.Open(back);
        Assert.Equal(src.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), dst.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var t in src.Tensors)
        {
            Assert.Equal(t.Dtype, dst[t.Name].Dtype); // BF16 backbone back to BF16, rm_head stayed F32 throughout
            Assert.Equal(src.ReadBytes(t.Name), dst.ReadBytes(t.Name));
        }
    }

    [Fact]
    public void Fp32ConversionIsExactAndAligned()
    {
        using var tmp = new TempDir();
        var output = tmp.File("fp32.safetensors");

        CheckpointConverter.Convert(Path.Combine(Tiny, "model.safetensors"), output, new ConvertOptions { Dtype = TargetDtype.F32 });

        using var src = SafetensorsFile.Open(Path.Combine(Tiny, "model.safetensors"));
        using var dst = SafetensorsFile.Open(output);
        Assert.Equal(0, dst.DataOffset % 8);
        foreach (var t in dst.Tensors)
        {
            Assert.Equal(SafetensorsDtype.F32, t.Dtype);
            Assert.Equal(0, t.Begin % 4);
        }

        Assert.Equal(src.ReadFloat32("model.layers.0.self_attn.q_proj.weight"), dst.ReadFloat32("model.layers.0.self_attn.q_proj.weight"));
        Assert.Equal(src.ReadFloat32("rm_head.0.weight"), dst.ReadFloat32("rm_head.0.weight"));
    }

    [Fact]
    public void FullSevenBKeySetRoundTripsThroughBothLayouts()
    {
        using var tmp = new TempDir();
        var source = tmp.File("full-keys.safetensors");
        var table = Checkpoints.ReleasedTable(Checkpoints.FullKeySetTinyWidths);
        Checkpoints.WriteRandom(source, table, seed: 7);
        var nested = tmp.File("nested");
        var flat = tmp.File("flat.safetensors");

        CheckpointConverter.Convert(source, nested, new ConvertOptions { Layout = TargetLayout.LanguageModel, MaxShardBytes = 64_000 });
        CheckpointConverter.Convert(nested, flat, new ConvertOptions { Layout = TargetLayout.Flat });

        var nestedReport = CheckpointInspector.Inspect(nested);
        Assert.Equal(Hpsv3KeyLayout.Nested, nestedReport.Layout);
        Assert.Equal(table.Count, nestedReport.Tensors.Count);
        Assert.True(CheckpointInspector.CheckAgainst("tiny widths", Checkpoints.FullKeySetTinyWidths, SafetensorsModel.Open(nested).Tensors).Ok);
        Assert.Equal(28, nestedReport.Architecture.Layers);
        Assert.Equal(32, nestedReport.Architecture.VisionDepth);
        using var a = SafetensorsFile.Open(source);
        using var b = SafetensorsFile.Open(flat);
        Assert.Equal(a.Tensors.Count, b.Tensors.Count);
        Assert.All(a.Tensors, t => Assert.Equal(a.ReadBytes(t.Name), b.ReadBytes(t.Name)));
    }

    [Fact]
    public void PlanForTheReal7BFromHeadersOnly()
    {
        using var tmp = new TempDir();
        var path = tmp.File("HPSv3.safetensors");
        Checkpoints.WriteSparse(path, Checkpoints.ReleasedTable());
        using var model = SafetensorsModel.Open(path);

        var bf16Shards = CheckpointConverter.Plan(model, tmp.File("out"), new ConvertOptions { MaxShardBytes = 5_000_000_000 });
        var fp32 = CheckpointConverter.Plan(model, tmp.File("out32"), new ConvertOptions { Dtype = TargetDtype.F32, Layout = TargetLayout.LanguageModel });

        Assert.Equal(4, bf16Shards.Shards.Count); // 16.59 GB in ≤ 5 GB shards
        Assert.Equal("model-00001-of-00004.safetensors", bf16Shards.Shards[0].FileName);
        Assert.All(bf16Shards.Shards, s => Assert.True(s.Bytes <= 5_000_000_000));
        Assert.Equal(model.TotalBytes, bf16Shards.TotalBytes);
        long parameters = model.Tensors.Sum(t => t.ElementCount);
        Assert.Equal(4 * parameters, fp32.TotalBytes);
        Assert.Single(fp32.Shards);
        Assert.Contains(fp32.Shards[0].Tensors, t => t.TargetName == "model.language_model.embed_tokens.weight");
    }

    [Fact]
    public void StreamingKeepsMemoryBoundedOnALargeCheckpoint()
    {
        using var tmp = new TempDir();
        var source = tmp.File("big.safetensors");
        // 64 MB of BF16 (sparse: reads as zeros, costs no disk) → 128 MB of F32 written; one tensor is 4× the buffer.
        Checkpoints.WriteSparse(source, Enumerable.Range(0, 2).Select(i => ($"model.layers.{i}.mlp.up_proj.weight", SafetensorsDtype.BF16, new long[] { 4096, 4096 })));
        long before = GC.GetAllocatedBytesForCurrentThread();

        CheckpointConverter.Convert(source, tmp.File("big-f32.safetensors"), new ConvertOptions { Dtype = TargetDtype.F32 });

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(allocated, 0, 3 * CheckpointConverter.ChunkBytes + 8_000_000); // two buffers and small change, not a tensor
        Assert.Equal(2L * 4096 * 4096 * 4, new FileInfo(tmp.File("big-f32.safetensors")).Length - SafetensorsFile.Open(tmp.File("big-f32.safetensors")).DataOffset);
    }

    [Fact]
    public void RefusesToOverwriteTheInputOrExistingWeights()
    {
        using var tmp = new TempDir();
        var copy = tmp.File("a.safetensors");
        File.Copy(Path.Combine(Tiny, "model.safetensors"), copy);

        var self = Assert.Throws<UserInputException>(() => CheckpointConverter.Convert(copy, copy, new ConvertOptions()));
        Assert.Contains("is the input", self.Message, StringComparison.Ordinal);

        var outDir = tmp.File("out");
        CheckpointConverter.Convert(copy, outDir, new ConvertOptions());
        var again = Assert.Throws<UserInputException>(() => CheckpointConverter.Convert(copy, outDir, new ConvertOptions()));
        Assert.Equal(CheckpointConverter.OutputField, again.Field);
        Assert.Contains("pass Overwrite", again.Message, StringComparison.Ordinal);
        CheckpointConverter.Convert(copy, outDir, new ConvertOptions { Overwrite = true, Dtype = TargetDtype.F32 });
        Assert.Equal(SafetensorsDtype.F32, SafetensorsModel.Open(outDir).Tensors[0].Dtype);

        var sharded = Assert.Throws<UserInputException>(() => CheckpointConverter.Convert(copy, tmp.File("x.safetensors"), new ConvertOptions { MaxShardBytes = 1000 }));
        Assert.Contains("folder", sharded.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5GB", 5_000_000_000L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("1.5 GB", 1_500_000_000L)]
    [InlineData("4096", 4096L)]
    public void ParsesShardSizes(string text, long expected) => Assert.Equal(expected, CheckpointConverter.ParseSize(text));

    [Fact]
    public void RejectsBadShardSizes()
    {
        Assert.Throws<UserInputException>(() => CheckpointConverter.ParseSize("lots"));
        Assert.Throws<UserInputException>(() => CheckpointConverter.ParseSize("-5GB"));
    }
}
