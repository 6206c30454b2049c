using System.Diagnostics;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Training.Tests;

[Trait("Category", "Model")]
public sealed class Hpsv3TrainingTests(ITestOutputHelper output)
{
    internal static string TinyConfigDir => TestPaths.Fixture("hpsv3-tiny");

    /// <summary>The collator <c>hps train</c> builds for <paramref name="o"/>: the test tokenizer and o's pixel budget.</summary>
    internal static Hpsv3PairCollator Collator(TrainingOptions o) =>
        new(Qwen2Tokenizer.FromDirectory(TestPaths.TokenizerDir), new Qwen2VLImageProcessor(new ImageProcessorOptions(o.MinPixels, o.MaxPixels)));

    [Fact]
    public void TinyModelLearnsTheColourTaskFromRandomWeights()
    {
        using var dir = TestPaths.TempDir();
        var train = SyntheticTask.Write(dir.Path, "train", 32, seed: 1, words: 1);
        var eval = SyntheticTask.Write(dir.Path, "eval", 32, seed: 2, words: 1);
        var o = new TrainingOptions
        {
            Model = TinyConfigDir, RandomInit = true, Out = dir.File("out"), Dtype = Precision.Fp32, Seed = 3,
            Epochs = 4, BatchSize = 8, GradAccum = 1, LearningRate = 1e-2, HeadLr = 1e-2, SpecialTokenLr = 1e-2,
            WarmupRatio = 0.05, EvalEvery = 8, MinPixels = 56 * 56, MaxPixels = 56 * 56, Tokenizer = TestPaths.TokenizerDir,
        };
        var sw = Stopwatch.StartNew();
        var collator = Collator(o);
        using var model = Hpsv3Trainable.Open(o.Model!, o.Dtype, o.Device, o.RandomInit, o.Seed, o.Tokenizer);
        var trainer = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, collator, o);
        var report = new DataReport();
        var data = new TrainingData(train.File, PairDataset.Load(train.File, PairFormat.Hpdv3, null, new PairDataOptions(), report), report,
            eval.File, PairDataset.Load(eval.File, PairFormat.Hpdv3, null, new PairDataOptions(), new DataReport()));
        var before = trainer.Evaluate("eval", data.Eval!, 0);
        Assert.True(before.Pairs == 32, $"evaluated {before.Pairs} pairs");
        var probe = Environment.GetEnvironmentVariable("HPS_TRAIN_PROBE");
        var result = trainer.Run(data, probe is null ? null : new InlineProgress(p => File.AppendAllText(probe, $"{DateTime.UtcNow:HH:mm:ss.fff} step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} acc {p.Accuracy:F3} eval {p.EvalAccuracy} {p.PairsPerSecond:F2} pairs/s\n")));
        foreach (var e in result.Evals)
        {
            output.WriteLine($"step {e.Step}: accuracy {e.Accuracy:F3}, mean sigma {e.MeanSigma:F3}, mean |dmu| {e.MeanAbsMargin:F3}");
        }

        output.WriteLine($"before {before.Accuracy:F3}; {result.Steps} steps in {sw.Elapsed.TotalSeconds:F1} s ({result.PairsPerSecond:F1} pairs/s)");
        Assert.InRange(before.Accuracy, 0.0, 0.8);
        Assert.True(result.Evals[^1].Accuracy >= 0.9, $"held-out accuracy {result.Evals[^1].Accuracy:F3} after {result.Steps} steps (before {before.Accuracy:F3})");
    }
    [Fact]
    public async Task FineTunedFolderHasTheOfficialLayoutAndLoadsInTheScorer()
    {
        using var dir = TestPaths.TempDir();
        var train = SyntheticTask.Write(dir.Path, "train", 4, seed: 5, words: 1);
        var o = new TrainingOptions
        {
            Model = TinyConfigDir, Out = dir.File("out"), Dtype = Precision.Bf16, Seed = 1, Epochs = 1, BatchSize = 2, GradAccum = 1,
            LearningRate = 1e-3, WarmupRatio = 0, MinPixels = 56 * 56, MaxPixels = 56 * 56, Tokenizer = TestPaths.TokenizerDir,
        };
        var collator = Collator(o);
        using (var model = Hpsv3Trainable.Open(o.Model!, o.Dtype, o.Device, false, o.Seed, o.Tokenizer))
        {
            var report = new DataReport();
            var r = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, collator, o).Run(new TrainingData(train.File, PairDataset.Load(train.File, PairFormat.Hpdv3, null, new PairDataOptions(), report), report));
            Assert.Equal(2, r.Steps);
        }

        var outDir = dir.File("out");
        using var saved = SafetensorsFile.Open(Path.Combine(outDir, "model.safetensors"));
        using var original = SafetensorsFile.Open(Path.Combine(TinyConfigDir, "model.safetensors"));
        // Same key set, shapes and dtypes as the official file (what Python's load_state_dict(strict=True) needs).
        Assert.Equal(original.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), saved.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var t in original.Tensors)
        {
            Assert.Equal(t.Dtype, saved[t.Name].Dtype);
            Assert.Equal(t.Shape, saved[t.Name].Shape);
        }

        Assert.Equal(original.ReadBytes("lm_head.weight"), saved.ReadBytes("lm_head.weight"));
        var before = original.ReadBytes("model.embed_tokens.weight");
        var after = saved.ReadBytes("model.embed_tokens.weight");
        int rowBytes = 32 * 2;
        int changedRows = Enumerable.Range(0, before.Length / rowBytes).Count(r => !before.AsSpan(r * rowBytes, rowBytes).SequenceEqual(after.AsSpan(r * rowBytes, rowBytes)));
        Assert.Equal(1, changedRows);
        Assert.False(before.AsSpan(Hpsv3Layout.RewardTokenId * rowBytes, rowBytes).SequenceEqual(after.AsSpan(Hpsv3Layout.RewardTokenId * rowBytes, rowBytes)));
        Assert.NotEqual(original.ReadFloat32("rm_head.5.weight"), saved.ReadFloat32("rm_head.5.weight"));
        Assert.True(File.Exists(Path.Combine(outDir, "config.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "vocab.json"))); // tokenizer files copied in

        using var scorer = HpsScorer.Load(outDir, new HpsScorerOptions(Dtype: Precision.Bf16, MinPixels: 56 * 56, MaxPixels: 56 * 56));
        var res = await scorer.ScoreAsync(new[] { new ScoreRequest("a picture that is mostly red", ImageInput.FromPath(Path.Combine(dir.Path, "images", "train-0-a.png"))) });
        Assert.True(res[0].Score is { } sc && double.IsFinite(sc.Mu), res[0].Error);
    }
}

internal sealed class InlineProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
