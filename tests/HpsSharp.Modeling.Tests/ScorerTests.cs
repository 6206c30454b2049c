using HpsSharp.Core;
using System.Collections.Concurrent;
using System.Text.Json;
using HpsSharp.Core.Scoring;
using HpsSharp.Modeling.Scoring;
using Xunit;

namespace HpsSharp.Modeling.Tests;

/// <summary>
/// HpsScorer's batching, ordering, errors, progress, cancellation and thread safety over the tiny model, fed the
/// fixture's own token ids and patches (the prompt names the fixture case), so these tests need no tokenizer or
/// image code.
/// </summary>
[Trait("Category", "Model")]
public sealed class ScorerTests
{
    private sealed class FixturePreprocessor : IScoringPreprocessor
    {
        private readonly ConcurrentDictionary<string, PreparedItem> _cache = new();

        public PreparedItem Prepare(ScoreRequest request)
        {
            if (request.Prompt == "bug")
            {
                // Stands for a programming error inside preprocessing: it must not be reported as bad data.
                throw new ArgumentException("preprocessing bug");
            }

            if (request.Prompt == "not-the-item")
            {
                // A domain error that is not this item's image or prompt (here: a bad load option) is not bad data either.
                throw UserInputException.ForOption("Device", $"stands for an error of the scorer, not of the item");
            }

            if (!TinyFixture.Cases.Contains(request.Prompt))
            {
                throw new UserInputException("prompt", $"no fixture case '{request.Prompt}'");
            }

            return _cache.GetOrAdd(request.Prompt, id =>
            {
                using var f = TinyFixture.Expected(id);
                var grid = f.ReadInt64("image_grid_thw");
                return new PreparedItem(f.ReadInt64("input_ids").Select(x => (int)x).ToArray(), (int)f.ReadInt64("reward_index")[0], f.ReadFloat32("pixel_values"), (int)grid[0], (int)grid[1], (int)grid[2]);
            });
        }
    }

    private static HpsScorer Create(string dtype, int batchSize)
    {
        var model = Hpsv3Model.Load(TinyFixture.ModelDir, new ModelLoadOptions(Precisions.Parse(dtype)));
        return new HpsScorer(model, new FixturePreprocessor(), batchSize, HpsScorer.Describe(TinyFixture.ModelDir, model, DeviceSpec.Cpu, Precisions.Parse(dtype), 200704, 200704), null);
    }

    private static (double Mu, double LogSigma) Golden(string id, string mode)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TinyFixture.ModelDir, "cases.json")));
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("id").GetString() == id);
        var m = c.GetProperty("expected").GetProperty(mode);
        return (m.GetProperty("mu").GetDouble(), m.GetProperty("log_sigma").GetDouble());
    }

    private static ScoreRequest Req(string id) => new(id, ImageInput.FromBytes(new byte[] { 1 }, id));

    [Fact]
    public async Task ResultsComeBackInInputOrderWithFailedItemsMarked()
    {
        using var scorer = Create("fp32", batchSize: 2);
        string[] ids = ["rocket", "chelsea", "missing", "coins", "chelsea"];
        var progress = new List<ScoreProgress>();
        var results = await scorer.ScoreAsync(ids.Select(Req).ToList(), new SyncProgress(progress.Add));
        Assert.Equal(ids.Length, results.Count);
        for (int i = 0; i < ids.Length; i++)
        {
            Assert.Same(ids[i], results[i].Request.Prompt);
            if (ids[i] == "missing")
            {
                Assert.False(results[i].Ok);
                Assert.Contains("no fixture case", results[i].Error, StringComparison.Ordinal);
                continue;
            }

            var (mu, logSigma) = Golden(ids[i], "fp32");
            Assert.True(Math.Abs(results[i].Score!.Value.Mu - mu) < 1e-4, $"{ids[i]}: μ {results[i].Score!.Value.Mu} vs golden {mu}");
            Assert.True(Math.Abs(results[i].Score!.Value.LogSigma - logSigma) < 1e-4, $"{ids[i]}: log σ {results[i].Score!.Value.LogSigma} vs golden {logSigma}");
        }

        Assert.Equal((5, 5), (progress[^1].Done, progress[^1].Total));
        Assert.True(progress.Zip(progress.Skip(1)).All(p => p.First.Done < p.Second.Done), "progress must increase");
    }

    [Fact]
    public async Task APreprocessingBugSurfacesInsteadOfBecomingAPerItemError()
    {
        using var scorer = Create("fp32", batchSize: 2);
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => scorer.ScoreAsync([Req("rocket"), Req("bug")]));
        Assert.Contains("preprocessing bug", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OnlyTheItemsOwnImageOrPromptErrorsArePerItem()
    {
        using var scorer = Create("fp32", batchSize: 2);
        var results = await scorer.ScoreAsync([Req("rocket"), Req("no such case")]);
        Assert.NotNull(results[0].Score);
        Assert.Contains("no fixture case", results[1].Error, StringComparison.Ordinal);
        var ex = await Assert.ThrowsAsync<UserInputException>(() => scorer.ScoreAsync([Req("rocket"), Req("not-the-item")]));
        Assert.Equal("Device", ex.Field);
        Assert.True(HpsScorer.IsItemFault(new Core.Imaging.ImageDecodeException("x.png", "truncated")));
        Assert.False(HpsScorer.IsItemFault(new IOException("disk")));
        Assert.False(HpsScorer.IsItemFault(new InvalidOperationException("bug")));
    }

    [Fact]
    public async Task ConcurrentCallersGetTheSameScoresAsOneCaller()
    {
        using var scorer = Create("bf16", batchSize: 3);
        string[] ids = ["coins", "rocket", "chelsea"];
        var alone = await scorer.ScoreAsync(ids.Select(Req).ToList());
        var tasks = Enumerable.Range(0, 4).Select(k => Task.Run(() => scorer.ScoreAsync(ids.Skip(k % 3).Concat(ids.Take(k % 3)).Select(Req).ToList()))).ToArray();
        var all = await Task.WhenAll(tasks);
        for (int k = 0; k < all.Length; k++)
        {
            foreach (var r in all[k])
            {
                var reference = alone.Single(a => a.Request.Prompt == r.Request.Prompt).Score!.Value;
                // bf16: the batch composition (padding length) may change rounding slightly; the fixture allows 0.05.
                Assert.True(Math.Abs(r.Score!.Value.Mu - reference.Mu) < 0.05, $"{r.Request.Prompt}: {r.Score!.Value.Mu} vs {reference.Mu}");
            }
        }

        var (mu, _) = Golden("chelsea", "bf16");
        Assert.True(Math.Abs(alone[2].Score!.Value.Mu - mu) < 0.1);
    }

    [Fact]
    public async Task CancellationStopsBetweenBatches()
    {
        using var scorer = Create("fp32", batchSize: 1);
        using var cts = new CancellationTokenSource();
        int reports = 0;
        var progress = new SyncProgress(_ =>
        {
            reports++;
            cts.Cancel();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => scorer.ScoreAsync(new[] { "coins", "rocket", "chelsea" }.Select(Req).ToList(), progress, cts.Token));
        Assert.Equal(1, reports);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => scorer.ScoreAsync([Req("coins")], null, cts.Token));
    }

    [Fact]
    public async Task ModelInfoSaysItIsNotTheReleasedModelAndFingerprintsTheSettings()
    {
        using var fp32 = Create("fp32", 1);
        Assert.False(fp32.Model.IsReleasedHpsv3);
        Assert.Contains("not the released HPSv3", fp32.Model.Name, StringComparison.Ordinal);
        Assert.Equal("fp32", fp32.Model.Dtype);
        Assert.Equal(32, fp32.Model.Fingerprint.Length);
        string config = Path.Combine(TinyFixture.ModelDir, "config.json");
        Assert.Equal(fp32.Model.Fingerprint, HpsScorer.Fingerprint(config, fp32.Network.WeightFiles, DeviceSpec.Cpu, Precision.Fp32, 200704, 200704));
        Assert.NotEqual(fp32.Model.Fingerprint, HpsScorer.Fingerprint(config, fp32.Network.WeightFiles, DeviceSpec.Cpu, Precision.Bf16, 200704, 200704));
        Assert.NotEqual(fp32.Model.Fingerprint, HpsScorer.Fingerprint(config, fp32.Network.WeightFiles, DeviceSpec.Cpu, Precision.Fp32, 200704, 401408));
        Assert.NotEqual(fp32.Model.Fingerprint, HpsScorer.Fingerprint(config, fp32.Network.WeightFiles, DeviceSpec.Parse("cuda:0"), Precision.Fp32, 200704, 200704));
        Assert.Equal(("hpsv3", "cpu"), (fp32.Model.Scorer, fp32.Model.Device));

        fp32.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => fp32.ScoreAsync([Req("coins")]));
    }

    [Fact]
    public async Task CompareAndRankWorkThroughTheCoreExtensions()
    {
        using var scorer = Create("fp32", 4);
        var cmp = await scorer.CompareAsync("chelsea", ImageInput.FromBytes(new byte[] { 1 }), ImageInput.FromBytes(new byte[] { 2 }));
        Assert.Equal(0.5, cmp.ProbabilityAOverB, 12);   // the same inputs give the same scores
        var ranking = await scorer.RankAsync("coins", [ImageInput.FromBytes(new byte[] { 1 }), ImageInput.FromBytes(new byte[] { 2 })]);
        Assert.Equal([0, 1], ranking.Order);
    }

    /// <summary>IProgress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ScoreProgress> report) : IProgress<ScoreProgress>
    {
        public void Report(ScoreProgress value) => report(value);
    }
}
