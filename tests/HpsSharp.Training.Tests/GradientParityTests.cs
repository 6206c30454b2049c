using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using HpsSharp.Training.Losses;
using HpsSharp.Training.Optim;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace HpsSharp.Training.Tests;

/// <summary>
/// One AdamW step on the <c>train-grad</c> fixture pair must move every trained parameter exactly as the reference's
/// float64 gradients imply: the first Adam step is Δθ = −η·g/(|g| + ε) element by element (m̂ = g, v̂ = g²), so
/// direction and size of every update check the gradient of that element.
/// </summary>
[Trait("Category", "Model")]
public sealed class GradientParityTests(ITestOutputHelper output)
{
    private const double Lr = 1e-3;
    private const double Eps = 1e-8;

    // The fixture's rule: elements whose reference gradient is at most this are not checked (fp32 rounding of a
    // near-zero gradient decides their sign).
    private const double GradFloor = 1e-6;

    // Tolerance on each update: 0.05 % of η for the gradient itself (fp32 forward/backward against the float64
    // reference), plus 4 ulp of the parameter for the fp32 subtraction θ1 − θ0 that measures the update.
    private const double RelativeTolerance = 5e-4;

    [Theory]
    [InlineData("uncertainty")]
    [InlineData("bt")]
    public void OneStepMovesEveryTrainedParameterAsTheReferenceGradientsImply(string loss)
    {
        var fixture = TestPaths.Fixture("train-grad");
        using var caseJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixture, "case.json")));
        var root = caseJson.RootElement;
        int rewardRow = root.GetProperty("reward_row").GetInt32();
        Assert.Equal(Hpsv3Layout.RewardTokenId, rewardRow);

        using var dir = TestPaths.TempDir();
        var dataFile = Path.Combine(dir.Path, "pair.json");
        File.WriteAllText(dataFile, JsonSerializer.Serialize(new[]
        {
            new Dictionary<string, object>
            {
                ["prompt"] = root.GetProperty("prompt").GetString()!,
                ["path1"] = root.GetProperty("image_a").GetString()!,
                ["path2"] = root.GetProperty("image_b").GetString()!,
            },
        }));

        var o = new TrainingOptions
        {
            Model = Hpsv3TrainingTests.TinyConfigDir, Tokenizer = TestPaths.TokenizerDir, Out = dir.File("out"), Dtype = Precision.Fp32,
            Loss = PairLoss.Parse(loss), LearningRate = Lr, AdamEps = Eps, WarmupSteps = 0, Schedule = ScheduleKind.Constant, MaxGradNorm = 0, WeightDecay = 0,
            BatchSize = 1, GradAccum = 1, Epochs = 1, HeadDropout = 0, ConfidenceThreshold = null, Seed = 7,
        };
        var collator = Hpsv3TrainingTests.Collator(o);
        using var before = Hpsv3Model.Load(o.Model!, new ModelLoadOptions(Precision.Fp32));
        using var model = Hpsv3Trainable.Open(o);
        var report = new DataReport();
        var pairs = PairDataset.Load(dataFile, PairFormat.Hpdv3, TestPaths.Asset("images"), o.DataOptions, report);
        var result = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, collator, o).Run(new TrainingData(dataFile, pairs, report));
        Assert.Equal(1, result.Steps);
        Assert.Equal(root.GetProperty("loss").GetProperty(loss).GetDouble(), result.History[0].Loss, 4);

        using var grads = SafetensorsFile.Open(Path.Combine(fixture, $"grads_{loss}.safetensors"));
        var initial = before.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        int checkedTensors = 0;
        long checkedElements = 0;
        double worst = 0;
        string worstName = "";
        foreach (var (name, p) in model.Model.named_parameters())
        {
            using var scope = NewDisposeScope();
            var now = p.detach().to(float64).flatten();
            var was = initial[name].detach().to(float64).flatten();
            if (name == "model.embed_tokens.weight")
            {
                // Every row but <|Reward|> stays bit for bit; the reward row is checked below like any other tensor.
                var rows = now.view(-1, p.shape[1]);
                var wasRows = was.view(-1, p.shape[1]);
                var keep = ones(rows.shape[0], dtype: ScalarType.Bool);
                keep[rewardRow] = tensor(false);
                Assert.True(rows[keep].eq(wasRows[keep]).all().item<bool>(), "an embedding row other than <|Reward|> changed");
                now = rows[rewardRow];
                was = wasRows[rewardRow];
            }

            Assert.True(grads.Contains(name), $"the reference has no gradient for trained parameter '{name}'");
            var g = tensor(grads.ReadFloat32(name), dtype: ScalarType.Float64);
            Assert.Equal(now.shape[0], g.shape[0]);
            var expected = -Lr * g / (g.abs() + Eps);
            var delta = now - was;
            var tolerance = RelativeTolerance * Lr + 4 * Math.Pow(2, -23) * was.abs();
            var check = g.abs() > GradFloor;
            var err = (delta - expected).abs();
            var excess = (err - tolerance).masked_fill(check.logical_not(), double.NegativeInfinity);
            double e = err.masked_fill(check.logical_not(), 0).max().item<double>();
            if (e > worst)
            {
                worst = e;
                worstName = name;
            }

            long bad = (excess > 0).sum().item<long>();
            Assert.True(bad == 0, $"{name}: {bad} of {check.sum().item<long>()} elements moved differently from −η·g/(|g|+ε) (largest error {e:E3}, η = {Lr})");

            // Elements under the floor still cannot move by more than one learning rate.
            Assert.True((delta.abs() <= Lr * (1 + 1e-3) + 4 * Math.Pow(2, -23) * was.abs()).all().item<bool>(), $"{name}: an element moved by more than η");
            checkedElements += check.sum().item<long>();
            checkedTensors++;
        }

        Assert.Equal(grads.Tensors.Count, checkedTensors);
        output.WriteLine($"{loss}: {checkedTensors} tensors, {checkedElements} elements with |g| > {GradFloor}; largest |Δ − Δref| {worst:E3} ({worstName}), η = {Lr}");

        // lm_head is not part of the module; the saved folder carries it unchanged from the input.
        using var saved = SafetensorsFile.Open(Path.Combine(o.Out!, "model.safetensors"));
        using var original = SafetensorsFile.Open(Path.Combine(o.Model!, "model.safetensors"));
        Assert.Equal(original.ReadBytes("lm_head.weight"), saved.ReadBytes("lm_head.weight"));
    }
}
