using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Testing;
using HpsSharp.Training.Checkpoints;
using HpsSharp.Training.Data;
using HpsSharp.Training.Losses;
using Xunit;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Training.Tests;

[Trait("Category", "Model")]
public sealed class TrainerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static TrainingOptions Options(string outDir, Func<TrainingOptions, TrainingOptions>? edit = null)
    {
        var o = new TrainingOptions
        {
            Out = outDir,
            Format = PairFormat.Jsonl,
            Epochs = 3,
            BatchSize = 4,
            GradAccum = 2,
            LearningRate = 3e-2,
            WarmupRatio = 0.1,
            Seed = 5,
            Loss = LossKind.Uncertainty,
        };
        return edit is null ? o : edit(o);
    }

    private static TrainingData Data(string train, string? eval = null, PairDataOptions? opts = null)
    {
        var report = new DataReport();
        var pairs = PairDataset.Load(train, PairFormat.Jsonl, null, opts ?? new PairDataOptions(), report);
        IReadOnlyList<PreferencePair>? ev = eval is null ? null : PairDataset.Load(eval, PairFormat.Jsonl, null, new PairDataOptions(), new DataReport());
        return new TrainingData(train, pairs, report, eval, ev);
    }

    [Fact]
    public void LearnsTheToyTaskAndEvaluatesOnHeldOutPairs()
    {
        using var dir = TestPaths.TempDir();
        var (train, eval) = ToyTask.Write(dir.Path, 96, 64, seed: 1);
        using var model = new ToyRewardModel(1);
        var trainer = new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(dir.File("out"), o => o with { Epochs = 6, EvalEvery = 6 }));
        var before = trainer.Evaluate("eval", Data(train, eval).Eval!, 0);
        var result = trainer.Run(Data(train, eval));
        Assert.True(result.Finished);
        Assert.Equal(PairwiseTrainer<ToyItem, ToySide>.StepsPerEpoch(96, 4, 2) * 6, result.Steps);
        Assert.True(result.Evals.Count >= 2);
        Assert.True(result.Evals[^1].Accuracy >= 0.9, $"held-out accuracy {result.Evals[^1].Accuracy} (before: {before.Accuracy})");
        Assert.True(result.History[^1].Loss < result.History[0].Loss);
        Assert.True(File.Exists(Path.Combine(dir.File("out"), "model.safetensors")));
        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "run.json")));
        Assert.True(run.RootElement.GetProperty("finished").GetBoolean());
        Assert.Equal(5, run.RootElement.GetProperty("seed").GetInt64());
        Assert.Equal(96, run.RootElement.GetProperty("data_summary").GetProperty("kept").GetInt64());
    }

    [Fact]
    public void OnlyTheRewardRowOfTheEmbeddingChanges()
    {
        using var dir = TestPaths.TempDir();
        var (train, _) = ToyTask.Write(dir.Path, 16, 0, seed: 2);
        using var model = new ToyRewardModel(2);
        var before = model.Snapshot();
        new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(dir.File("out"), o => o with { Epochs = 1, WarmupRatio = 0 })).Run(Data(train));
        var after = model.Snapshot();
        var emb = "model.embed_tokens.weight";
        for (int row = 0; row < 10; row++)
        {
            var b = before[emb].Skip(row * 8).Take(8).ToArray();
            var a = after[emb].Skip(row * 8).Take(8).ToArray();
            if (row == ToyRewardModel.RewardId)
            {
                Assert.NotEqual(b, a);
            }
            else
            {
                Assert.Equal(b, a); // rows 4 and 1..3 are used in every batch and still do not move
            }
        }

        Assert.NotEqual(before["model.layers.weight"], after["model.layers.weight"]);
        Assert.NotEqual(before["visual.blocks.weight"], after["visual.blocks.weight"]);
    }

    [Fact]
    public void FreezingOptionsKeepGroupsUnchanged()
    {
        using var dir = TestPaths.TempDir();
        var (train, _) = ToyTask.Write(dir.Path, 16, 0, seed: 3);
        using var model = new ToyRewardModel(3);
        var before = model.Snapshot();
        new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(dir.File("out"), o => o with { Epochs = 1, WarmupRatio = 0, HeadOnly = true, TrainRewardToken = false })).Run(Data(train));
        var after = model.Snapshot();
        foreach (var name in before.Keys)
        {
            if (name.StartsWith("rm_head.", StringComparison.Ordinal))
            {
                Assert.NotEqual(before[name], after[name]);
            }
            else
            {
                Assert.Equal(before[name], after[name]);
            }
        }

        using var model2 = new ToyRewardModel(3);
        var b2 = model2.Snapshot();
        new PairwiseTrainer<ToyItem, ToySide>(model2, new ToyCollator(), Options(dir.File("out2"), o => o with { Epochs = 1, WarmupRatio = 0, FreezeVision = true })).Run(Data(train));
        var a2 = model2.Snapshot();
        Assert.Equal(b2["visual.blocks.weight"], a2["visual.blocks.weight"]);
        Assert.NotEqual(b2["visual.merger.weight"], a2["visual.merger.weight"]); // the merger stays trainable
        Assert.NotEqual(b2["model.layers.weight"], a2["model.layers.weight"]);
    }

    [Theory]
    [InlineData("uncertainty", "fp32")]
    [InlineData("uncertainty-mc", "fp32")]
    [InlineData("uncertainty", "bf16")]
    public void ResumedRunReproducesTheUninterruptedLossCurve(string loss, string dtype)
    {
        using var dir = TestPaths.TempDir();
        var (train, eval) = ToyTask.Write(dir.Path, 40, 8, seed: 4);
        var backbone = dtype == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        TrainingOptions Opt(string o) => Options(dir.File(o), x => x with { Loss = PairLoss.Parse(loss), Epochs = 2, SaveEvery = 2, EvalEvery = 3 });

        using var full = new ToyRewardModel(9, backbone);
        var a = new PairwiseTrainer<ToyItem, ToySide>(full, new ToyCollator(), Opt("full")).Run(Data(train, eval));

        using var first = new ToyRewardModel(9, backbone);
        var b1 = new PairwiseTrainer<ToyItem, ToySide>(first, new ToyCollator(), Opt("split") with { StopAfter = 5 }).Run(Data(train, eval));
        Assert.False(b1.Finished);
        Assert.Equal(5, b1.Steps);
        Assert.EndsWith("step-00000005", b1.LastCheckpoint, StringComparison.Ordinal);

        // A fresh process: different initial weights and RNG state, all replaced by the checkpoint.
        torch.random.manual_seed(12345);
        using var second = new ToyRewardModel(77, backbone);
        var b2 = new PairwiseTrainer<ToyItem, ToySide>(second, new ToyCollator(), Opt("split") with { Resume = true }).Run(Data(train, eval));
        Assert.True(b2.Finished);
        Assert.Equal(a.Steps, b2.Steps);
        Assert.Equal(a.History.Select(h => h.Loss), b2.History.Select(h => h.Loss));
        Assert.Equal(a.Evals.Select(h => h.Accuracy), b2.Evals.Select(h => h.Accuracy));
        Assert.Equal(full.Snapshot()["rm_head.5.weight"], second.Snapshot()["rm_head.5.weight"]);
    }

    [Fact]
    public void CheckpointsAreCompleteFoldersAndOldOnesAreRemoved()
    {
        using var dir = TestPaths.TempDir();
        var (train, _) = ToyTask.Write(dir.Path, 40, 0, seed: 6);
        using var model = new ToyRewardModel(6);
        var outDir = dir.File("out");
        new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(outDir, o => o with { Epochs = 1, SaveEvery = 1, SaveTotalLimit = 2 })).Run(Data(train));
        var cps = CheckpointStore.List(outDir);
        Assert.Equal(new[] { "step-00000004", "step-00000005" }, cps.Select(Path.GetFileName));
        foreach (var f in new[] { "model.safetensors", "config.json", "optimizer.safetensors", "trainer_state.json", "run.json" })
        {
            Assert.True(File.Exists(Path.Combine(cps[^1], f)), f);
        }

        Assert.Empty(Directory.GetDirectories(CheckpointStore.Root(outDir), ".*"));
        var st = CheckpointStore.ReadState(cps[^1]);
        Assert.Equal(5, st.Step);
        Assert.Equal(40, st.Offset);
        Assert.NotNull(st.TorchRng);
    }

    [Fact]
    public void UnreadableImagesAreSkippedAndCountedOrStopTheRunWhenStrict()
    {
        using var dir = TestPaths.TempDir();
        var (train, _) = ToyTask.Write(dir.Path, 12, 0, seed: 7);
        var lines = File.ReadAllLines(train);
        var broken = JsonDocument.Parse(lines[3]).RootElement.GetProperty("path2").GetString()!;
        File.WriteAllText(Path.Combine(dir.Path, broken), "not an image");
        using var model = new ToyRewardModel(7);
        var data = Data(train);
        var r = new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(dir.File("out"), o => o with { Epochs = 1 })).Run(data);
        Assert.Equal(1, r.Report.BadImages);
        Assert.Contains(r.Report.Skipped, s => s.Row == 3 && s.Reason.Contains("not a toy image", StringComparison.Ordinal));
        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("out"), "run.json")));
        Assert.Equal(1, run.RootElement.GetProperty("data_summary").GetProperty("bad_images").GetInt64());

        using var model2 = new ToyRewardModel(7);
        var ex = Assert.Throws<TrainingDataException>(() =>
            new PairwiseTrainer<ToyItem, ToySide>(model2, new ToyCollator(), Options(dir.File("out2"), o => o with { Epochs = 1, Strict = true })).Run(Data(train)));
        Assert.Equal(3, ex.Row);
    }

    [Fact]
    public void ResumeWithOtherOptionsIsRefusedWithAClearMessage()
    {
        using var dir = TestPaths.TempDir();
        var (train, _) = ToyTask.Write(dir.Path, 16, 0, seed: 8);
        using var model = new ToyRewardModel(8);
        new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(dir.File("out"), o => o with { StopAfter = 1 })).Run(Data(train));
        using var model2 = new ToyRewardModel(8);
        var ex = Assert.Throws<UserInputException>(() =>
            new PairwiseTrainer<ToyItem, ToySide>(model2, new ToyCollator(), Options(dir.File("out"), o => o with { Resume = true, BatchSize = 2, LearningRate = 1e-3, WarmupRatio = 0.2, StopAfter = 2 })).Run(Data(train)));

        // Every option that differs is named (by field: the library names no flags), with both values; where and
        // how often to save may change.
        Assert.Equal(nameof(TrainingOptions.Resume), ex.Field);
        Assert.Contains("BatchSize 4 (now 2)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LearningRate 0.03 (now 0.001)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("WarmupRatio 0.1 (now 0.2)", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("StopAfter", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("--", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--lr 0.03 (now 0.001)", ex.Describe(f => "--" + TrainingOptions.KeyOfField[f]), StringComparison.Ordinal);

        using var model3 = new ToyRewardModel(8);
        var resumed = new PairwiseTrainer<ToyItem, ToySide>(model3, new ToyCollator(), Options(dir.File("out"), o => o with { Resume = true, StopAfter = 2, SaveEvery = 1 })).Run(Data(train));
        Assert.Equal(2, resumed.Steps);
    }

    [Fact]
    public void AFolderHoldingAnotherRunIsRefusedUnlessResumedOrOverwritten()
    {
        using var dir = TestPaths.TempDir();
        var (train, _) = ToyTask.Write(dir.Path, 16, 0, seed: 8);
        string outDir = dir.File("out");
        using (var model = new ToyRewardModel(8))
        {
            new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(outDir, o => o with { StopAfter = 1, SaveEvery = 1 })).Run(Data(train));
        }

        Assert.Equal(["step-00000001"], CheckpointStore.List(outDir).Select(Path.GetFileName));
        File.WriteAllText(Path.Combine(outDir, "notes.txt"), "mine");
        using var other = new ToyRewardModel(9);
        var ex = Assert.Throws<UserInputException>(() =>
            new PairwiseTrainer<ToyItem, ToySide>(other, new ToyCollator(), Options(outDir, o => o with { Seed = 6, Epochs = 1 })).Run(Data(train)));
        Assert.Contains("holds another run (checkpoints", ex.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(TrainingOptions.Out), ex.Field);
        Assert.Contains("continue it with Resume, or start clean with Overwrite", ex.Message, StringComparison.Ordinal);
        Assert.Equal(["step-00000001"], CheckpointStore.List(outDir).Select(Path.GetFileName));

        // --overwrite starts clean: the old run's checkpoints go, files that are not a run's stay.
        var r = new PairwiseTrainer<ToyItem, ToySide>(other, new ToyCollator(), Options(outDir, o => o with { Seed = 6, Epochs = 1, Overwrite = true })).Run(Data(train));
        Assert.True(r.Finished);
        Assert.DoesNotContain("step-00000001", CheckpointStore.List(outDir).Select(Path.GetFileName));
        Assert.Equal(6, CheckpointStore.ReadState(CheckpointStore.Latest(outDir)!).Seed);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(outDir, "notes.txt")));
    }

    [Fact]
    public void SigmaOnAmbiguousPairsShrinksLikeOnClearOnesAsTheLossDictates()
    {
        // 30 % of the training pairs are ambiguous: both images have the prompt's colour, the label is a coin flip.
        using var dir = TestPaths.TempDir();
        var (train, clear) = ToyTask.Write(dir.Path, 160, 48, seed: 11, ambiguous: 0.3);
        var (_, amb) = ToyTask.Write(dir.Path, 0, 48, seed: 12, ambiguous: 1.0, prefix: "amb-");
        using var model = new ToyRewardModel(11);
        var trainer = new PairwiseTrainer<ToyItem, ToySide>(model, new ToyCollator(), Options(dir.File("out"), o => o with { Epochs = 12, LearningRate = 1e-2 }));
        var clearPairs = Data(clear).Train;
        var ambPairs = Data(amb).Train;
        var c0 = trainer.Evaluate("clear", clearPairs, 0);
        var a0 = trainer.Evaluate("ambiguous", ambPairs, 0);
        trainer.Run(Data(train));
        var c1 = trainer.Evaluate("clear", clearPairs, 1);
        var a1 = trainer.Evaluate("ambiguous", ambPairs, 1);
        output.WriteLine($"clear pairs:     sigma {c0.MeanSigma:F3} -> {c1.MeanSigma:F3}, |dmu| {c0.MeanAbsMargin:F3} -> {c1.MeanAbsMargin:F3}, accuracy {c0.Accuracy:F3} -> {c1.Accuracy:F3}");
        output.WriteLine($"ambiguous pairs: sigma {a0.MeanSigma:F3} -> {a1.MeanSigma:F3}, |dmu| {a0.MeanAbsMargin:F3} -> {a1.MeanAbsMargin:F3}");

        // ∂L/∂σ > 0 everywhere (docs/training.md#the-uncertainty-loss, Q5): σ falls on every kind of pair, ambiguous ones included; the model
        // expresses ambiguity through a small |Δμ| instead.
        Assert.True(c1.MeanSigma < c0.MeanSigma && a1.MeanSigma < a0.MeanSigma);
        Assert.True(c1.Accuracy >= 0.8, $"clear accuracy {c1.Accuracy}");
        Assert.True(a1.MeanAbsMargin < 0.5 * c1.MeanAbsMargin, $"ambiguous |dmu| {a1.MeanAbsMargin} vs clear {c1.MeanAbsMargin}");
    }
}
