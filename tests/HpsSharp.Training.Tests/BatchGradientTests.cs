using System.Globalization;
using HpsSharp.Modeling;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using HpsSharp.Training.Losses;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HpsSharp.Training.Tests;

/// <summary>
/// The gradient of a batch must be the mean of its pairs' gradients. <see cref="GradientParityTests"/> checks one pair
/// against the float64 reference, where each side of the pair is a batch of one; this checks what a batch adds:
/// right padding of prompts of different lengths, several images in one vision pass, the reward token read per row.
/// </summary>
[Trait("Category", "Model")]
public sealed class BatchGradientTests(ITestOutputHelper output)
{
    // fp32 sums in another order: relative to the largest gradient element of each tensor.
    private const double RelativeTolerance = 1e-4;

    [Fact]
    public void GradientOfABatchOfPairsIsTheMeanOfTheirGradients()
    {
        using var dir = TestPaths.TempDir();
        var task = SyntheticTask.WriteBrightDark(dir.Path, "train", 3, seed: 21, SyntheticTask.TrainPhrasings);
        var pairs = PairDataset.Load(task.File, PairFormat.Hpdv3, null, new PairDataOptions(), new DataReport()).Take(5).ToList();
        Assert.True(pairs.Select(p => p.Prompt.Length).Distinct().Count() > 1, "the prompts must differ in length so that the batch is padded");
        var o = new TrainingOptions { Model = Hpsv3TrainingTests.TinyConfigDir, Tokenizer = TestPaths.TokenizerDir, Out = dir.File("out"), Dtype = HpsSharp.Core.Precision.Fp32, HeadDropout = 0, MinPixels = 56 * 56, MaxPixels = 56 * 56 };
        var collator = Hpsv3TrainingTests.Collator(o);
        using var model = Hpsv3Trainable.Open(o);
        model.Module.train();
        var parameters = model.Module.named_parameters().Where(p => !p.name.StartsWith("lm_head", StringComparison.Ordinal)).ToList();
        foreach (var (_, p) in parameters)
        {
            p.requires_grad_(true);
        }

        using var loss = new PairLoss(LossKind.BradleyTerry);
        Dictionary<string, Tensor> Gradients(IReadOnlyList<PreferencePair> batch)
        {
            foreach (var (_, p) in parameters)
            {
                p.grad?.zero_();
            }

            using var scope = NewDisposeScope();
            using var a = collator.Collate(batch.Select(x => collator.Prepare(x.Prompt, Path.Combine(dir.Path, x.Preferred))).ToList());
            using var b = collator.Collate(batch.Select(x => collator.Prepare(x.Prompt, Path.Combine(dir.Path, x.Other))).ToList());
            loss.Compute(model.Forward(a), model.Forward(b)).backward();
            return parameters.ToDictionary(p => p.name, p => p.parameter.grad!.clone().DetachFromDisposeScope());
        }

        var whole = Gradients(pairs);
        var singles = pairs.Select(p => Gradients([p])).ToList();
        double worst = 0;
        foreach (var (name, g) in whole)
        {
            using var step = NewDisposeScope();
            var mean = stack(singles.Select(s => s[name]).ToArray()).mean([0L]);
            double scale = mean.abs().max().item<float>();
            if (scale == 0)
            {
                Assert.Equal(0, g.abs().max().item<float>());
                continue;
            }

            double rel = (g - mean).abs().max().item<float>() / scale;
            worst = Math.Max(worst, rel);
            Assert.True(rel <= RelativeTolerance, string.Create(CultureInfo.InvariantCulture, $"{name}: batch gradient differs from the mean of the pairs' by {rel:G3} of its largest element"));
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{whole.Count} tensors, largest relative difference {worst:G3}"));
    }
}
