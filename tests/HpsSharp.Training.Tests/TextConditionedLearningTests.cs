using System.Diagnostics;
using System.Globalization;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Training.Tests;

/// <summary>
/// Learning in which the answer depends on the prompt's words: each pair is one bright and one dark image, the prompt
/// asks for a bright or a dark scene, and every image pair appears with both prompts. The model has to read the word
/// (18 tokens before <c>&lt;|Reward|&gt;</c>) and the image (≈ 530 tokens before it, behind HPSv3's instruction) and
/// combine them. Held-out pairs use new images and phrasings never seen in training.
/// Status: NOT passing yet. With the tiny fixture weights, fp32, lr 3e-3 for every group, batch 8 and 72 steps the
/// held-out accuracy stayed exactly 0.500 at every evaluation (the model ranks both copies of each image pair the
/// same way: it does not read the word). The harness is kept, skipped, for the next recipe (see the Training README).
/// </summary>
[Trait("Category", "Model")]
public sealed class TextConditionedLearningTests(ITestOutputHelper output)
{
    internal static (double Before, double After, IReadOnlyList<double> Curve, TimeSpan Time) Run(string dir, bool withWord, string dtype = "fp32", double lr = 3e-3, int epochs = 6, long seed = 3)
    {
        var train = SyntheticTask.WriteBrightDark(dir, "train" + (withWord ? "" : "-plain"), 48, seed: 21, SyntheticTask.TrainPhrasings, withWord);
        var eval = SyntheticTask.WriteBrightDark(dir, "eval", 16, seed: 22, SyntheticTask.HeldOutPhrasings);
        var o = new TrainingOptions
        {
            Model = Hpsv3TrainingTests.TinyConfigDir, Tokenizer = TestPaths.TokenizerDir, Out = Path.Combine(dir, withWord ? "out" : "out-plain"),
            Dtype = HpsSharp.Core.Precisions.Parse(dtype), Seed = seed, Epochs = epochs, BatchSize = 8, GradAccum = 1, LearningRate = lr, WarmupRatio = 0.05,
            EvalEvery = 12, MinPixels = 56 * 56, MaxPixels = 56 * 56, SaveTotalLimit = 1,
        };
        var sw = Stopwatch.StartNew();
        var collator = new Hpsv3PairCollator(Qwen2Tokenizer.FromDirectory(TestPaths.TokenizerDir), new Qwen2VLImageProcessor(new ImageProcessorOptions(o.MinPixels, o.MaxPixels)));
        using var model = Hpsv3Trainable.Open(o);
        var trainer = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, collator, o);
        var report = new DataReport();
        var data = new TrainingData(train.File, PairDataset.Load(train.File, PairFormat.Hpdv3, null, new PairDataOptions(), report), report,
            eval.File, PairDataset.Load(eval.File, PairFormat.Hpdv3, null, new PairDataOptions(), new DataReport()));
        var before = trainer.Evaluate("eval", data.Eval!, 0);
        var result = trainer.Run(data);
        return (before.Accuracy, result.Evals[^1].Accuracy, result.Evals.Select(e => e.Accuracy).ToList(), sw.Elapsed);
    }

    [Fact(Skip = "issue #15 item 4 open: this recipe stays at 0.500 held-out accuracy (measured 2026-12-04); unskip with a recipe that learns")]
    public void TinyModelLearnsWhichImageThePromptAsksForOnHeldOutPhrasings()
    {
        using var dir = TestPaths.TempDir();
        var (before, after, curve, time) = Run(dir.Path, withWord: true);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"with the word: before {before:F3}, held-out accuracy by eval {string.Join(" ", curve.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)))} in {time.TotalSeconds:F0} s"));
        Assert.True(after >= 0.9, $"held-out accuracy {after:F3} (curve {string.Join(" ", curve)})");

        // Image-only control: the same recipe with the brightness word replaced by a neutral one cannot beat chance,
        // because every image pair is preferred one way for one prompt and the other way for the other.
        var (_, control, controlCurve, controlTime) = Run(dir.Path, withWord: false);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"image-only control: held-out accuracy by eval {string.Join(" ", controlCurve.Select(a => a.ToString("F3", CultureInfo.InvariantCulture)))} in {controlTime.TotalSeconds:F0} s"));
        Assert.InRange(control, 0.3, 0.6);
    }
}
