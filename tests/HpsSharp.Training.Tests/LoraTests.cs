using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Modeling.Lora;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using HpsSharp.Training.Losses;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HpsSharp.Training.Tests;

[Trait("Category", "Model")]
public sealed class LoraTests(ITestOutputHelper output)
{
    private static Hpsv3PairCollator Collator(TrainingOptions o) =>
        new(Qwen2Tokenizer.FromDirectory(TestPaths.TokenizerDir), new Qwen2VLImageProcessor(new ImageProcessorOptions(o.MinPixels, o.MaxPixels)));

    private static TrainingResult Train(TrainingOptions o, SyntheticTask.Written train)
    {
        using var model = Hpsv3Trainable.Open(o);
        var report = new DataReport();
        var pairs = PairDataset.Load(train.File, PairFormat.Hpdv3, null, new PairDataOptions(), report);
        return new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, Collator(o), o).Run(new TrainingData(train.File, pairs, report));
    }

    [Fact]
    public async Task LoraRunWritesAPeftAdapterThatScoresAndMergesToTheSameScores()
    {
        using var dir = TestPaths.TempDir();
        var baseDir = TestPaths.TinyModelDir(dir);
        var train = SyntheticTask.Write(dir.Path, "train", 4, seed: 11, words: 3);
        var o = new TrainingOptions
        {
            Model = baseDir, Out = dir.File("run"), Dtype = Precision.Bf16, Seed = 5, Epochs = 1, BatchSize = 2, GradAccum = 1,
            LearningRate = 1e-2, WarmupRatio = 0, MinPixels = 56 * 56, MaxPixels = 56 * 56, Lora = true, LoraR = 4, LoraAlpha = 8,
        };

        // Base weights: frozen, still views of the mapped file, values unchanged after training.
        using (var model = Hpsv3Trainable.Open(o))
        {
            Assert.True(model.Model.ZeroCopyParameters > 0);
            var report = new DataReport();
            var pairs = PairDataset.Load(train.File, PairFormat.Hpdv3, null, new PairDataOptions(), report);
            var r = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, Collator(o), o).Run(new TrainingData(train.File, pairs, report));
            Assert.Equal(2, r.Steps);
            using var fresh = Hpsv3Model.Load(baseDir, new ModelLoadOptions(Precision.Bf16));
            var original = fresh.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
            int trained = 0;
            foreach (var (name, p) in model.Model.named_parameters())
            {
                if (PeftAdapter.IsLoraParameter(name))
                {
                    Assert.True(p.requires_grad, name);
                    trained++;
                    continue;
                }

                if (name.StartsWith("rm_head.", StringComparison.Ordinal))
                {
                    continue;
                }

                if (name == "model.embed_tokens.weight")
                {
                    var changed = p.ne(original[name]).any(1).nonzero().flatten();
                    Assert.Equal(new long[] { Hpsv3Layout.RewardTokenId }, changed.data<long>().ToArray());
                    continue;
                }

                Assert.False(p.requires_grad, $"{name} should be frozen");
                Assert.True(p.eq(original[name]).all().item<bool>(), $"base weight {name} changed");
            }

            Assert.Equal(2 * 2 * 7, trained); // 2 decoder layers × 7 Linears × (A, B)
        }

        var run = o.Out!;
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));
        using (var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "adapter_config.json"))))
        {
            var c = cfg.RootElement;
            Assert.Equal("LORA", c.GetProperty("peft_type").GetString());
            Assert.Equal(4, c.GetProperty("r").GetInt32());
            Assert.Equal(8, c.GetProperty("lora_alpha").GetDouble());
            Assert.Equal(0.05, c.GetProperty("lora_dropout").GetDouble());
            Assert.Equal("CAUSAL_LM", c.GetProperty("task_type").GetString());
            Assert.Equal(Path.GetFullPath(baseDir), c.GetProperty("base_model_name_or_path").GetString());
            Assert.Equal(["rm_head"], c.GetProperty("modules_to_save").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(14, c.GetProperty("target_modules").GetArrayLength());
            Assert.Contains("model.layers.0.self_attn.q_proj", c.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(Hpsv3Layout.RewardTokenId, c.GetProperty("trainable_token_indices").GetProperty("embed_tokens")[0].GetInt64());
        }

        using (var f = SafetensorsFile.Open(Path.Combine(run, "adapter_model.safetensors")))
        {
            Assert.Equal([4, 32], f["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].Shape);
            Assert.Equal([88, 4], f["base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"].Shape);
            Assert.Contains(f.ReadFloat32("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"), v => v != 0);
            Assert.Equal([1024, 32], f["base_model.model.rm_head.0.weight"].Shape);
            Assert.Equal([1, 32], f[PeftAdapter.TokenKey].Shape);
            Assert.Equal(28 + 6 + 1, f.Tensors.Count);
            Assert.DoesNotContain(f.Tensors, t => t.Name.Contains("visual", StringComparison.Ordinal) || t.Name.Contains("lm_head", StringComparison.Ordinal));
        }

        // hps score --model RUN: base + adapter; the merged checkpoint scores the same (fp32, 1e-5).
        var images = Directory.GetFiles(Path.Combine(dir.Path, "images"), "*.png").Order(StringComparer.Ordinal).Take(4).ToList();
        var requests = images.Select((p, i) => new ScoreRequest(i % 2 == 0 ? "a picture that is mostly red" : "a picture that is mostly blue", ImageInput.FromPath(p))).ToList();
        var scorerOptions = new HpsScorerOptions(Dtype: Precision.Fp32, MinPixels: 56 * 56, MaxPixels: 56 * 56);
        double[] adapted, merged, plain;
        using (var s = HpsScorer.Load(run, scorerOptions))
        {
            adapted = (await s.ScoreAsync(requests)).Select(x => x.Score!.Value.Mu).ToArray();
        }

        var mergedDir = dir.File("merged");
        var m = LoraMerge.Merge(run, mergedDir, Precision.Fp32);
        Assert.Equal(14, m.AdaptedLayers);
        using (var s = HpsScorer.Load(mergedDir, scorerOptions))
        {
            merged = (await s.ScoreAsync(requests)).Select(x => x.Score!.Value.Mu).ToArray();
        }

        using (var s = HpsScorer.Load(baseDir, scorerOptions))
        {
            plain = (await s.ScoreAsync(requests)).Select(x => x.Score!.Value.Mu).ToArray();
        }

        output.WriteLine($"adapter {string.Join(", ", adapted.Select(v => v.ToString("F6")))}; merged {string.Join(", ", merged.Select(v => v.ToString("F6")))}; base {string.Join(", ", plain.Select(v => v.ToString("F6")))}");
        for (int i = 0; i < adapted.Length; i++)
        {
            Assert.True(Math.Abs(adapted[i] - merged[i]) <= 1e-5, $"image {i}: base+adapter {adapted[i]} vs merged {merged[i]}");
        }

        Assert.True(adapted.Zip(plain).Any(p => Math.Abs(p.First - p.Second) > 1e-3), "the adapter did not change any score");

        // The merged folder is a full checkpoint in the official layout (same names, shapes as the base file).
        using var mf = SafetensorsFile.Open(Path.Combine(mergedDir, "model.safetensors"));
        using var bf = SafetensorsFile.Open(Path.Combine(baseDir, "model.safetensors"));
        Assert.Equal(bf.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), mf.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        Assert.Equal(bf.ReadBytes("lm_head.weight"), mf.ReadBytes("lm_head.weight"));

        // Merging again into the same folder refuses to overwrite.
        var ex = Assert.Throws<UserInputException>(() => LoraMerge.Merge(run, mergedDir, Precision.Fp32));
        Assert.Contains("already holds model weights", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ResumedLoraRunReproducesTheUninterruptedRun()
    {
        // LoRA checkpoints hold only the adapter (PEFT files): resuming goes through PeftAdapter.Apply onto a freshly
        // attached adapter, plus the optimizer state and RNG. With LoRA and head dropout on, the split run must
        // follow the uninterrupted one exactly.
        using var dir = TestPaths.TempDir();
        var baseDir = TestPaths.TinyModelDir(dir);
        var train = SyntheticTask.Write(dir.Path, "train", 4, seed: 21, words: 3);
        TrainingOptions Opt(string name) => new()
        {
            Model = baseDir, Out = dir.File(name), Dtype = HpsSharp.Core.Precision.Bf16, Seed = 9, Epochs = 2, BatchSize = 2, GradAccum = 1,
            LearningRate = 1e-2, WarmupRatio = 0, MinPixels = 56 * 56, MaxPixels = 56 * 56, Lora = true, LoraR = 4, LoraAlpha = 8,
            SaveEvery = 2,
        };

        var full = Train(Opt("full"), train);
        var first = Train(Opt("split") with { StopAfter = 2 }, train);
        Assert.False(first.Finished);
        Assert.Equal(2, first.Steps);
        Assert.True(File.Exists(Path.Combine(first.LastCheckpoint!, PeftAdapter.WeightsFile)));
        Assert.False(File.Exists(Path.Combine(first.LastCheckpoint!, "model.safetensors")));
        Dictionary<string, byte[]> atStop;
        using (var f = SafetensorsFile.Open(Path.Combine(first.LastCheckpoint!, PeftAdapter.WeightsFile)))
        {
            atStop = f.Tensors.ToDictionary(t => t.Name, t => f.ReadBytes(t.Name));
        }

        // Another process would start from another RNG state: the checkpoint must replace it.
        torch.random.manual_seed(4242);
        var second = Train(Opt("split") with { Resume = true }, train);
        Assert.True(second.Finished);
        Assert.Equal(4, full.Steps);
        Assert.Equal(full.Steps, second.Steps);
        Assert.Equal(full.History.Select(h => h.Loss), second.History.Select(h => h.Loss));
        Assert.Equal(full.History.Select(h => h.GradNorm), second.History.Select(h => h.GradNorm));

        // The final adapters are identical tensor for tensor (LoRA matrices, rm_head, the <|Reward|> row).
        using var a = SafetensorsFile.Open(Path.Combine(dir.File("full"), PeftAdapter.WeightsFile));
        using var b = SafetensorsFile.Open(Path.Combine(dir.File("split"), PeftAdapter.WeightsFile));
        Assert.Equal(a.Tensors.Select(t => t.Name), b.Tensors.Select(t => t.Name));
        foreach (var t in a.Tensors)
        {
            Assert.True(a.ReadBytes(t.Name).AsSpan().SequenceEqual(b.ReadBytes(t.Name)), $"{t.Name} differs after resuming");
        }

        // The steps after the resume did train (the comparison above is not between two untouched adapters).
        Assert.Contains(a.Tensors, t => !atStop[t.Name].AsSpan().SequenceEqual(a.ReadBytes(t.Name)));
    }

    [Theory]
    [InlineData("fp32", 0.1)]
    [InlineData("bf16", 0.1)]
    [InlineData("bf16", 0.0)]
    public void LoraLinearMatchesThePlainExpressionAndItsAutogradGradients(string dtype, double dropout)
    {
        // The adapter is one autograd node that keeps only its input and a byte mask; it must compute
        // W·x + b + s·B·A·dropout(x) (float32 branch) with the same dropout draws as nn.functional.dropout and give the
        // gradients autograd gives for that expression.
        using var model = Hpsv3Model.Load(Hpsv3TrainingTests.TinyConfigDir, new ModelLoadOptions(Precisions.Parse(dtype)));
        model.AttachLora(new LoraSettings(4, 8, dropout, ["model.layers.0.mlp.down_proj"]), 3);
        var linear = (HpsSharp.Modeling.Layers.Linear)model.named_modules().Single(m => m.name == "model.layers.0.mlp.down_proj").module;
        var lora = linear.Lora!;
        using (no_grad())
        {
            lora.B.weight.copy_(randn(lora.B.weight.shape, generator: new Generator(5)) * 0.1);
        }

        linear.weight.requires_grad_(false);
        linear.train();
        var x = (randn([2, 7, linear.InFeatures], generator: new Generator(6)) * 0.5).to(linear.weight.dtype).requires_grad_(true);
        var w = randn([2, 7, linear.OutFeatures], generator: new Generator(8));

        (Tensor Y, Tensor Gx, Tensor Ga, Tensor Gb) Run(Func<Tensor, Tensor> f)
        {
            x.grad?.zero_();
            lora.A.weight.grad?.zero_();
            lora.B.weight.grad?.zero_();
            torch.random.manual_seed(17);
            var y = f(x);
            (y.to(ScalarType.Float32) * w).sum().backward();
            return (y.detach().clone(), x.grad!.clone(), lora.A.weight.grad!.clone(), lora.B.weight.grad!.clone());
        }

        var node = Run(linear.forward);
        var plain = Run(input =>
        {
            var d = input.to(ScalarType.Float32);
            if (dropout > 0)
            {
                d = nn.functional.dropout(d, dropout, true);
            }

            var delta = nn.functional.linear(nn.functional.linear(d, lora.A.weight), lora.B.weight).mul(lora.Scaling);
            return nn.functional.linear(input, linear.weight).add(delta.to(input.dtype));
        });

        // Same values (same masks), gradients equal up to float32 summation order.
        Assert.True(node.Y.eq(plain.Y).all().item<bool>(), "outputs differ");
        foreach (var (name, a, b) in new[] { ("x", node.Gx, plain.Gx), ("A", node.Ga, plain.Ga), ("B", node.Gb, plain.Gb) })
        {
            double diff = (a.to(ScalarType.Float32) - b.to(ScalarType.Float32)).abs().max().item<float>();
            double scale = b.to(ScalarType.Float32).abs().max().item<float>();
            output.WriteLine($"{dtype} p={dropout}: grad {name} max |diff| {diff:E2}, max |g| {scale:E2}");
            Assert.True(scale > 0, $"zero gradient of {name}");
            Assert.True(diff <= (dtype == "bf16" && name == "x" ? 8e-3 : 1e-5) * scale, $"gradient of {name} differs by {diff} (max {scale})");
        }
    }

    [Fact]
    public void LoraOptionsAreChecked()
    {
        Assert.Throws<UserInputException>(() => new TrainingOptions { Lora = true, LoraR = 0 }.Validate(requirePaths: false));
        Assert.Throws<UserInputException>(() => new TrainingOptions { Lora = true, LoraDropout = 1 }.Validate(requirePaths: false));
        Assert.Throws<UserInputException>(() => new TrainingOptions { Lora = true, RandomInit = true }.Validate(requirePaths: false));
        using var model = Hpsv3Model.Load(Hpsv3TrainingTests.TinyConfigDir, new ModelLoadOptions(Precision.Fp32));
        Assert.Equal(14, model.ResolveLoraTargets("decoder").Count);
        Assert.Equal(2 * 4, model.ResolveLoraTargets("vision").Count);
        Assert.Equal(["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"], model.ResolveLoraTargets("q_proj,v_proj"));
        var ex = Assert.Throws<UserInputException>(() => model.ResolveLoraTargets("decoder,nonesuch"));
        Assert.Contains("nonesuch", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Gradients of every trained parameter for one pair, with or without gradient checkpointing.</summary>
    private static Dictionary<string, Tensor> Gradients(bool checkpointing, bool lora, string targets)
    {
        var o = new TrainingOptions
        {
            Model = Hpsv3TrainingTests.TinyConfigDir, Tokenizer = TestPaths.TokenizerDir, Dtype = Precision.Fp32, Seed = 3, HeadDropout = 0.05,
            MinPixels = 56 * 56, MaxPixels = 112 * 112, Lora = lora, LoraTargets = targets, LoraDropout = 0.1, GradientCheckpointing = checkpointing,
        };
        using var model = Hpsv3Trainable.Open(o);
        var collator = Collator(o);
        foreach (var (name, p) in model.Model.named_parameters())
        {
            var group = Optim.ParameterGroups.Classify(name);
            p.requires_grad_(o.Trains(group));
        }

        if (lora)
        {
            // B starts at zero, which would leave A without gradient: give B values so both matrices are checked.
            using var ng = no_grad();
            foreach (var (name, p) in model.Model.named_parameters().Where(p => p.name.Contains(".lora_B.", StringComparison.Ordinal)))
            {
                p.copy_(randn(p.shape, generator: new Generator(7)) * 0.1);
            }
        }

        model.Module.train();
        torch.random.manual_seed(99);
        using var a = collator.Collate([collator.Prepare("a cat sitting by a window", TestPaths.Image("chelsea.png")), collator.Prepare("a rocket", TestPaths.Image("rocket.jpg"))]);
        using var b = collator.Collate([collator.Prepare("a cat sitting by a window", TestPaths.Image("coffee.png")), collator.Prepare("a rocket", TestPaths.Image("camera.png"))]);
        using var loss = new PairLoss(LossKind.Uncertainty, 1, 1);
        var outA = model.Forward(a);
        var outB = model.Forward(b);
        loss.Compute(outA, outB, null).backward();
        return model.Model.named_parameters().Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.is_sparse ? p.parameter.grad!.to_dense() : p.parameter.grad!.detach().clone()); // LoRA: the embedding's gradient is sparse
    }

    [Theory]
    [InlineData(false, "decoder")]
    [InlineData(true, "decoder")]
    [InlineData(true, "decoder,vision")]
    public void GradientCheckpointingGivesTheSameGradients(bool lora, string targets)
    {
        long before = HpsSharp.Modeling.Layers.ActivationCheckpoint.Recomputations;
        var plain = Gradients(false, lora, targets);
        Assert.Equal(before, HpsSharp.Modeling.Layers.ActivationCheckpoint.Recomputations);
        var recomputed = Gradients(true, lora, targets);

        // Both images of both sides: 2 decoder layers each, and the 2 vision blocks whenever they have something to train.
        long expected = 2 * (2 + (lora && !targets.Contains("vision", StringComparison.Ordinal) ? 0 : 2));
        Assert.Equal(expected, HpsSharp.Modeling.Layers.ActivationCheckpoint.Recomputations - before);
        Assert.Equal(plain.Keys.Order(StringComparer.Ordinal), recomputed.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(plain.Keys, k => k.StartsWith("model.layers.0.", StringComparison.Ordinal));
        if (targets.Contains("vision", StringComparison.Ordinal) || !lora)
        {
            Assert.Contains(plain.Keys, k => k.StartsWith("visual.blocks.0.", StringComparison.Ordinal));
        }

        double worst = 0;
        foreach (var (name, g) in plain)
        {
            var diff = (g - recomputed[name]).abs().max().item<float>();
            var scale = g.abs().max().item<float>();
            worst = Math.Max(worst, diff);
            Assert.True(diff <= 1e-6 * Math.Max(1, scale), $"{name}: gradients differ by {diff} (max |g| {scale})");
            Assert.True(scale > 0 || name.Contains("lora_A", StringComparison.Ordinal), $"{name}: zero gradient");
        }

        output.WriteLine($"lora {lora} {targets}: {plain.Count} gradients, largest difference {worst:E2}");
    }
}
