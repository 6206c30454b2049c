using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using Xunit;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Tests;

[Trait("Category", "Model")]
public sealed class LoadingTests(TinyFixture tiny) : IClassFixture<TinyFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hps-model-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes a copy of the tiny checkpoint with renamed/dropped/replaced tensors, plus its config.json.</summary>
    private string WriteVariant(string name, Func<string, string?> rename, IEnumerable<SafetensorsWriter.Entry>? extra = null)
    {
        var dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(TinyFixture.ModelDir, "config.json"), Path.Combine(dir, "config.json"));
        using var src = SafetensorsFile.Open(Path.Combine(TinyFixture.ModelDir, "model.safetensors"));
        var entries = new List<SafetensorsWriter.Entry>();
        foreach (var t in src.Tensors)
        {
            var newName = rename(t.Name);
            if (newName is not null)
            {
                entries.Add(new SafetensorsWriter.Entry(newName, t.Dtype, t.Shape, src.ReadBytes(t.Name)));
            }
        }

        entries.AddRange(extra ?? []);
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries);
        return dir;
    }

    [Fact]
    public void Bf16LoadIsZeroCopyAndFp32CopiesOnlyTheBackbone()
    {
        var bf16 = tiny.Model("bf16");
        int count = bf16.parameters().Count();
        // Every tensor of the file is already in the dtype bf16 mode uses (backbone BF16, head F32): all are views.
        Assert.Equal(count, bf16.ZeroCopyParameters);
        Assert.All(bf16.named_parameters(), p => Assert.Equal(p.name.StartsWith("rm_head.", StringComparison.Ordinal) ? ScalarType.Float32 : ScalarType.BFloat16, p.parameter.dtype));
        // fp32 mode upcasts the backbone (a copy is unavoidable); the F32 head stays a view.
        var fp32 = tiny.Model("fp32");
        Assert.Equal(6, fp32.ZeroCopyParameters);
        Assert.All(fp32.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.All(fp32.parameters(), p => Assert.False(p.requires_grad));
        Assert.Equal(151658, bf16.Config.VocabSize);
    }

    [Fact]
    public void NestedLayoutWithoutLmHeadLoadsToTheSameModel()
    {
        var dir = WriteVariant("nested", n => n == "lm_head.weight" ? null : Hpsv3Layout.ToNested(n));
        using var nested = Hpsv3Model.Load(dir, new ModelLoadOptions(Precision.Fp32));
        using var f = TinyFixture.Expected("coins");
        using var batch = TinyFixture.SingleBatch(f);
        using var mode = inference_mode();
        using var a = nested.forward(batch);
        using var b = tiny.Model("fp32").forward(batch);
        Assert.True(a.allclose(b, 0, 0), "nested-layout model must score exactly like the flat one");
    }

    [Fact]
    public void AStrictCheckListsMissingUnexpectedAndMismatchedTensorsInOneException()
    {
        var dir = WriteVariant(
            "broken",
            n => n switch
            {
                "model.norm.weight" => null,
                "model.layers.1.self_attn.k_proj.bias" => null,
                "visual.merger.ln_q.bias" => null,
                _ => n,
            },
            [
                SafetensorsWriter.Entry.FromFloat32("extra.weight", [1, 2], [2]),
                SafetensorsWriter.Entry.FromFloat32("model.layers.1.self_attn.k_proj.bias", new float[17], [17]),
                SafetensorsWriter.Entry.FromInt64("visual.merger.ln_q.bias", new long[32], [32]),
            ]);
        var ex = Assert.Throws<ModelLoadException>(() => Hpsv3Model.Load(dir, new ModelLoadOptions(Precision.Bf16)));
        Assert.Equal(["model.norm.weight"], ex.Missing);
        Assert.Equal(["extra.weight"], ex.Unexpected);
        Assert.Equal(2, ex.Mismatched.Count);
        Assert.Contains(ex.Mismatched, m => m.Name == "model.layers.1.self_attn.k_proj.bias" && m.Actual == "[17] F32");
        Assert.Contains(ex.Mismatched, m => m.Name == "visual.merger.ln_q.bias" && m.Actual == "[32] I64");
        Assert.Contains("1 missing, 1 unexpected, 2 mismatched", ex.Message, StringComparison.Ordinal);
        Assert.Contains("model.norm.weight", ex.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<HpsException>(ex);
    }

    [Fact]
    public void BadOptionsAndMissingFilesAreUserErrors()
    {
        // A dtype or device is parsed before it reaches the loader (ModelLoadOptions holds the typed values).
        Assert.Equal("Dtype", Assert.Throws<UserInputException>(() => Precisions.Parse("fp16")).Field);
        Assert.Equal("Device", Assert.Throws<UserInputException>(() => DeviceSpec.Parse("tpu")).Field);
        Assert.Throws<UserInputException>(() => Hpsv3Model.Load(Path.Combine(_dir, "nope")));
        var noConfig = Path.Combine(_dir, "noconfig");
        Directory.CreateDirectory(noConfig);
        File.Copy(Path.Combine(TinyFixture.ModelDir, "model.safetensors"), Path.Combine(noConfig, "model.safetensors"));
        var ex = Assert.Throws<UserInputException>(() => Hpsv3Model.Load(noConfig));
        Assert.Contains("config.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ABadConfigFieldIsNamed()
    {
        var dir = Path.Combine(_dir, "badconfig");
        Directory.CreateDirectory(dir);
        var json = File.ReadAllText(Path.Combine(TinyFixture.ModelDir, "config.json")).Replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "config.json"), json);
        var ex = Assert.Throws<UserInputException>(() => Qwen2VLConfig.Load(Path.Combine(dir, "config.json")));
        Assert.Contains("num_key_value_heads", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARandomModelFromAConfigIsDifferentiable()
    {
        var config = Qwen2VLConfig.Load(Path.Combine(TinyFixture.ModelDir, "config.json"));
        using var model = Hpsv3Model.Create(config, new ModelLoadOptions(Precision.Fp32, RequiresGrad: true), seed: 1);
        using var f = TinyFixture.Expected("coins");
        using var batch = TinyFixture.SingleBatch(f);
        using var scope = NewDisposeScope();
        var output = model.forward(batch);
        output[0, 0].backward();
        var grad = model.named_parameters().Single(p => p.name == "rm_head.5.bias").parameter.grad;
        Assert.NotNull(grad);
        Assert.Equal(1f, grad![0].item<float>());
        Assert.NotNull(model.named_parameters().Single(p => p.name == "visual.blocks.0.attn.qkv.weight").parameter.grad);
    }
}

[Trait("Category", "Model")]
public sealed class MappedWeightsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hps-mmap-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void AlignedTensorsAreViewsAndAnUnalignedOneIsReadCorrectly()
    {
        // safetensors packs tensors without per-tensor padding: a BF16 [3] (6 bytes) puts the next F32 off 4-byte alignment.
        var header = """{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"F32","shape":[2],"data_offsets":[6,14]}}""";
        header = header.PadRight(header.Length + ((8 - ((8 + header.Length) % 8)) % 8));
        var path = Path.Combine(_dir, "w.safetensors");
        using (var s = File.Create(path))
        {
            s.Write(BitConverter.GetBytes((long)header.Length));
            s.Write(System.Text.Encoding.UTF8.GetBytes(header));
            foreach (var v in new[] { 1f, -2f, 0.5f })
            {
                s.Write(BitConverter.GetBytes(SafetensorsDtypes.FloatToBFloat16(v)));
            }

            s.Write(BitConverter.GetBytes(3.25f));
            s.Write(BitConverter.GetBytes(-7f));
        }

        using var model = SafetensorsModel.Open(path);
        using var source = new Weights.MappedWeightSource(model, new Dictionary<string, string> { ["a"] = "a", ["b"] = "b" }, ScalarType.BFloat16, new TorchSharp.torch.Device("cpu"), false);
        using var a = source.Get("a", [3], ParameterPrecision.Model);
        using var b = source.Get("b", [2], ParameterPrecision.Float32);
        Assert.Equal(ScalarType.BFloat16, a.dtype);
        Assert.Equal(new[] { 1f, -2f, 0.5f }, a.to(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal(new[] { 3.25f, -7f }, b.data<float>().ToArray());
        Assert.Equal(1, source.ZeroCopy);
        Assert.Equal(1, source.UnalignedCopies);
    }
}

[Trait("Category", "Model")]
public sealed class SaveTests(TinyFixture tiny) : IClassFixture<TinyFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hps-save-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ASavedBf16ModelHasTheOfficialTensorsAndScoresIdentically()
    {
        File.Copy(Path.Combine(TinyFixture.ModelDir, "config.json"), Path.Combine(_dir, "config.json"));
        var path = Path.Combine(_dir, "model.safetensors");
        tiny.Model("bf16").SaveSafetensors(path);

        using (var saved = SafetensorsFile.Open(path))
        using (var original = SafetensorsFile.Open(Path.Combine(TinyFixture.ModelDir, "model.safetensors")))
        {
            // Same tensors, dtypes and bytes as the official file, minus lm_head (never used to score).
            var expected = original.Tensors.Where(t => t.Name != "lm_head.weight").OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
            var actual = saved.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
            Assert.Equal(expected.Select(t => t.Describe()), actual.Select(t => t.Describe()));
            foreach (var t in expected)
            {
                Assert.True(original.ReadBytes(t.Name).AsSpan().SequenceEqual(saved.ReadBytes(t.Name)), $"{t.Name} bytes differ");
            }
        }

        using var reloaded = Hpsv3Model.Load(_dir, new ModelLoadOptions(Precision.Fp32));
        using var fresh = Hpsv3Model.Create(reloaded.Config, new ModelLoadOptions(Precision.Fp32), seed: 3);
        fresh.LoadWeights(path);
        using var f = TinyFixture.Expected("coins");
        using var batch = TinyFixture.SingleBatch(f);
        using var mode = inference_mode();
        using var a = reloaded.forward(batch);
        using var b = tiny.Model("fp32").forward(batch);
        using var c = fresh.forward(batch);
        Assert.True(a.allclose(b, 0, 0));
        Assert.True(c.allclose(b, 0, 0));
        Assert.Throws<ModelLoadException>(() => fresh.LoadWeights(Path.Combine(TinyFixture.ModelDir, "expected_coins.safetensors")));
    }
}
