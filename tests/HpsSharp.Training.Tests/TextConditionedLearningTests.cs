using System.Diagnostics;
using System.Globalization;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using HpsSharp.Training.Losses;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Training.Tests;

/// <summary>
/// Learning in which the answer depends on the prompt's words: each pair is one bright and one dark image, the prompt
/// asks for a bright or a dark scene, and every image pair appears with both prompts, so a scorer that ignores the
/// prompt is right on exactly half. The model has to read the word (≈ 18 tokens before <c>&lt;|Reward|&gt;</c>) and
/// the image (behind HPSv3's 530-token instruction) and combine them. Held-out pairs use new images and phrasings never
/// seen in training. The recipe and why earlier ones stalled: src/HpsSharp.Training/README.md#text-conditioned-learning.
/// </summary>
[Trait("Category", "Model")]
public sealed class TextConditionedLearningTests(ITestOutputHelper output)
{
    /// <summary>Image pairs of the training set; each appears with both prompts, so 2 × this many training pairs.</summary>
    internal const int TrainImagePairs = 48;

    /// <summary>Held-out image pairs (2 × this many held-out pairs, new images and phrasings).</summary>
    internal const int EvalImagePairs = 32;

    /// <summary>Optimizer steps; each sees every training pair once (one epoch).</summary>
    internal const int Steps = 50;

    /// <summary>
    /// The recipe (README): fp32, learning rate 1e-2 for every group after a 5-step warm-up, Bradley–Terry loss on μ,
    /// no head dropout, and <b>one step per epoch</b>: the batch is the whole training set (96 pairs), so every step
    /// holds both prompts of every image pair. Mini-batches of random pairs do not learn the task: the image-only
    /// gradient of the pairs whose mirrored copy is not in the batch is first order and of random sign, the
    /// prompt × image signal second order (README); over the whole set the image-only parts cancel.
    /// </summary>
    internal static TrainingOptions Recipe(string outDir) => new()
    {
        Model = Hpsv3TrainingTests.TinyConfigDir, Tokenizer = TestPaths.TokenizerDir, Out = outDir,
        Dtype = HpsSharp.Core.Precision.Fp32, Seed = 3, Epochs = Steps, BatchSize = 2 * TrainImagePairs, GradAccum = 1,
        LearningRate = 1e-2, WarmupSteps = 5, Loss = LossKind.BradleyTerry, HeadDropout = 0, EvalEvery = 10,
        MinPixels = 56 * 56, MaxPixels = 56 * 56, SaveTotalLimit = 1,
    };

    internal static (double Before, double After, IReadOnlyList<double> Curve, TimeSpan Time) Run(string dir, bool withWord, Action<string> log)
    {
        var train = SyntheticTask.WriteBrightDark(dir, "train" + (withWord ? "" : "-plain"), TrainImagePairs, seed: 21, SyntheticTask.TrainPhrasings, withWord);
        var eval = SyntheticTask.WriteBrightDark(dir, "eval", EvalImagePairs, seed: 22, SyntheticTask.HeldOutPhrasings);
        var o = Recipe(Path.Combine(dir, withWord ? "out" : "out-plain"));
        var sw = Stopwatch.StartNew();
        var collator = Hpsv3TrainingTests.Collator(o);
        using var model = Hpsv3Trainable.Open(o);
        var trainer = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, collator, o);
        var report = new DataReport();
        var data = new TrainingData(train.File, PairDataset.Load(train.File, PairFormat.Hpdv3, null, new PairDataOptions(), report), report,
            eval.File, PairDataset.Load(eval.File, PairFormat.Hpdv3, null, new PairDataOptions(), new DataReport()));
        var before = trainer.Evaluate("eval", data.Eval!, 0);
        // HPS_TRAIN_PROBE=FILE: also append the progress lines to FILE while the test runs (as Hpsv3TrainingTests).
        var probe = Environment.GetEnvironmentVariable("HPS_TRAIN_PROBE");
        var result = trainer.Run(data, new InlineProgress(p =>
        {
            if (probe is not null)
            {
                File.AppendAllText(probe + (withWord ? ".word" : ".control"), string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss} step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} acc {p.Accuracy:F3} eval {p.EvalAccuracy}\n"));
            }

            if (p.Step % 5 == 0)
            {
                log(string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} batch accuracy {p.Accuracy:F3} held-out {p.EvalAccuracy?.ToString("F3", CultureInfo.InvariantCulture) ?? "-"} {sw.Elapsed.TotalSeconds:F0} s"));
            }
        }));
        return (before.Accuracy, result.Evals[^1].Accuracy, result.Evals.Select(e => e.Accuracy).ToList(), sw.Elapsed);
    }

    private static string Curve(IEnumerable<double> curve) => string.Join(" ", curve.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)));

    [Fact]
    public void TinyModelLearnsWhichImageThePromptAsksForOnHeldOutPhrasings()
    {
        using var dir = TestPaths.TempDir();
        var (before, after, curve, time) = Run(dir.Path, withWord: true, output.WriteLine);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"with the word: before {before:F3}, held-out accuracy every 10 steps {Curve(curve)} in {time.TotalSeconds:F0} s"));
        Assert.InRange(before, 0.35, 0.65);
        Assert.True(after >= 0.9, $"held-out accuracy {after:F3} (curve {Curve(curve)})");

        // It learned by reading the words as HPSv3 trains: the word rows of the embedding stayed frozen, only the
        // <|Reward|> row moved.
        var tokenizer = Qwen2Tokenizer.FromDirectory(TestPaths.TokenizerDir);
        using var original = SafetensorsFile.Open(Path.Combine(Hpsv3TrainingTests.TinyConfigDir, "model.safetensors"));
        using var saved = SafetensorsFile.Open(Path.Combine(dir.Path, "out", "model.safetensors"));
        var was = original.ReadFloat32("model.embed_tokens.weight");
        var now = saved.ReadFloat32("model.embed_tokens.weight");
        foreach (var word in new[] { " bright", " dark" })
        {
            var ids = tokenizer.Encode(word);
            Assert.Single(ids);
            Assert.True(was.AsSpan(ids[0] * 32, 32).SequenceEqual(now.AsSpan(ids[0] * 32, 32)), $"the embedding row of '{word}' changed");
        }

        Assert.False(was.AsSpan(Hpsv3Layout.RewardTokenId * 32, 32).SequenceEqual(now.AsSpan(Hpsv3Layout.RewardTokenId * 32, 32)));
    }

    [Fact]
    public void ImageOnlyControlWithTheSameRecipeStaysNearChance()
    {
        // The same recipe with the brightness word replaced by a neutral one: every image pair is preferred one way for
        // one prompt and the other way for the other, so nothing in the images alone can beat chance on held-out pairs.
        using var dir = TestPaths.TempDir();
        var (before, after, curve, time) = Run(dir.Path, withWord: false, output.WriteLine);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"image-only control: before {before:F3}, held-out accuracy every 10 steps {Curve(curve)} in {time.TotalSeconds:F0} s"));
        Assert.InRange(after, 0.35, 0.65);
    }
}
