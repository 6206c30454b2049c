using System.Text.Json;
using HpsSharp.Core.Data;
using HpsSharp.Core.Metrics;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using Xunit;

namespace HpsSharp.Evaluation.Tests;

[Trait("Category", "Unit")]
public sealed class EvaluatorTests
{
    private static async Task<EvalResult> RunModel(Fixtures fx, string data, EvalOptions? options = null, ScoreCache? cache = null, Core.Scoring.IScorer? scorer = null)
    {
        using var s = scorer is null ? fx.Scorer() : null;
        var source = new ModelScoreSource(scorer ?? s!, cache, fx.Root);
        return await Evaluator.RunAsync(EvalDataset.Open(data), source, options);
    }

    [Theory]
    [InlineData(TiePolicy.Strict, 0.7, 10)]
    [InlineData(TiePolicy.Half, 0.75, 10)]
    [InlineData(TiePolicy.Exclude, 7.0 / 9, 9)]
    public async Task Hpdv3PairAccuracyFollowsTheTiePolicy(TiePolicy ties, double expected, long pairs)
    {
        using var fx = new Fixtures();
        var r = await RunModel(fx, fx.Hpdv3(), new EvalOptions { Ties = ties, TruthTies = GroundTruthTiePolicy.Exclude });
        Assert.Equal("pair_accuracy", r.Metric);
        Assert.Equal(expected, r.Accuracy!.Value, 12);
        Assert.Equal(pairs, r.Pairs);
        Assert.Equal(7, r.Correct);
        Assert.Equal(2, r.Wrong);
        Assert.Equal(1, r.PredictedTies);
        Assert.Equal(1, r.TruthTies);
        Assert.Equal(11, r.ScoredPairs);
        Assert.Equal(Accuracy.Name(ties), r.Protocol.TiePolicy);
        Assert.Equal("hpdv3", r.Protocol.Format);
        Assert.Equal("test", r.Protocol.Split);
        Assert.Equal(11, r.Protocol.Records);
        Assert.False(r.Protocol.ReleasedHpsv3);
        Assert.Contains("NOT the released HPSv3", r.Protocol.Model, StringComparison.Ordinal);
        Assert.Contains("min_pixels=200704", r.Protocol.Preprocessing, StringComparison.Ordinal);
        Assert.NotNull(r.Ci95);
        Assert.InRange(r.Accuracy.Value, r.Ci95![0], r.Ci95[1]);
    }

    [Fact]
    public async Task Hpdv3CountsEveryListedPairByDefaultAsEvaluatePyDoes()
    {
        // evaluate.py never reads choice_dist: the equal-vote pair (μ 5 vs 1, path1 listed first) is a correct pair.
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        var r = await RunModel(fx, data);
        Assert.Equal(8.0 / 11, r.Accuracy!.Value, 12);
        Assert.Equal((11L, 8L, 2L, 1L), (r.Pairs, r.Correct, r.Wrong, r.PredictedTies));
        Assert.Equal(1, r.TruthTies);
        Assert.Equal("listed", r.Protocol.GroundTruthTies);
        Assert.Contains("1 such pair(s) counted as listed", r.Protocol.GroundTruthTiesDefinition, StringComparison.Ordinal);
        Assert.Contains("the default for hpdv3", r.Protocol.GroundTruthTiesDefinition, StringComparison.Ordinal);
        Assert.Contains("(counted as listed)", Reports.Headline(r), StringComparison.Ordinal);

        // Dropping equal-vote pairs is the caller's explicit choice, and the protocol says so.
        var excluded = await RunModel(fx, data, new EvalOptions { TruthTies = GroundTruthTiePolicy.Exclude });
        Assert.Equal((10L, 0.7), (excluded.Pairs, Math.Round(excluded.Accuracy!.Value, 12)));
        Assert.Contains("chosen explicitly", excluded.Protocol.GroundTruthTiesDefinition, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryFormatHasThePapersGroundTruthTieDefault()
    {
        // docs/evaluation.md#pair-accuracy: HPDv3 pairs all count (path1 preferred); ranking formats skip equal ranks; Pick-a-Pic and
        // JSONL ties name no preferred image and are left out (O4), always with the policy printed.
        using var fx = new Fixtures();
        var expected = new (string Data, string Format, string Policy)[]
        {
            (fx.Hpdv3(), "hpdv3", "listed"),
            (fx.ImageReward(), "imagereward", "exclude"),
            (await fx.PickapicAsync(), "pickapic", "exclude"),
            (fx.Hpdv2(), "hpdv2", "exclude"),
            (fx.JsonlPairs(), "jsonl", "exclude"),
        };
        foreach (var (data, format, policy) in expected)
        {
            Assert.Equal(policy, Accuracy.Name(EvalDataset.DefaultTruthTies(EvalDataset.ParseFormat(format))));
            var r = await RunModel(fx, data);
            Assert.Equal((format, policy), (r.Protocol.Format, r.Protocol.GroundTruthTies));
            Assert.Contains("the default for " + format, r.Protocol.GroundTruthTiesDefinition, StringComparison.Ordinal);
        }

        // 'listed' means something only where the format lists a preferred image even for a tie.
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => RunModel(fx, fx.ImageReward(), new EvalOptions { TruthTies = GroundTruthTiePolicy.Listed }));
        Assert.Contains("only to HPDv3", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GroundTruthTiesCanBeCounted()
    {
        using var fx = new Fixtures();
        var r = await RunModel(fx, fx.Hpdv3(), new EvalOptions { TruthTies = GroundTruthTiePolicy.Half });
        Assert.Equal(7.5 / 11, r.Accuracy!.Value, 12);
        Assert.Equal(11, r.Pairs);
    }

    [Fact]
    public async Task BreaksDownByCategoryAndModelPair()
    {
        using var fx = new Fixtures();
        var r = await RunModel(fx, fx.Hpdv3());
        var animals = r.ByCategory.Single(g => g.Name == "animals");
        var food = r.ByCategory.Single(g => g.Name == "food");
        Assert.Equal((1.0, 5L), (animals.Accuracy!.Value, animals.Pairs));
        Assert.Equal((0.4, 5L, 1L), (food.Accuracy!.Value, food.Pairs, food.PredictedTies));
        var pair = Assert.Single(r.ByModelPair);
        Assert.Equal("flux vs sdxl", pair.Name);
        Assert.Equal(11, pair.Pairs);
        Assert.Equal(8, pair.Correct);
    }

    [Fact]
    public async Task RankingAccuracySkipsHumanTiesAndCountsPredictedTiesWrong()
    {
        using var fx = new Fixtures();
        foreach (var data in new[] { fx.ImageReward(), fx.Hpdv2() })
        {
            var r = await RunModel(fx, data);
            Assert.Equal("ranking_accuracy", r.Metric);
            Assert.Equal(0.6, r.Accuracy!.Value, 12);
            Assert.Equal((5L, 3L, 2L, 1L), (r.Pairs, r.Correct, r.Wrong, r.TruthTies));
            Assert.Equal(2, r.Items);
            Assert.Equal(0.5, r.MeanItemAccuracy!.Value, 12);
        }
    }

    [Fact]
    public async Task PickapicParquetOrientsLabelsAndExcludesTies()
    {
        using var fx = new Fixtures();
        var data = await fx.PickapicAsync();
        Assert.Equal(DatasetFormat.Pickapic, EvalDataset.Detect(data));
        var r = await RunModel(fx, data);
        Assert.Equal(2.0 / 3, r.Accuracy!.Value, 12);
        Assert.Equal((3L, 2L, 1L), (r.Pairs, r.Correct, r.TruthTies));
        Assert.Equal("pickapic", r.Protocol.Format);
    }

    [Fact]
    public async Task JsonlPairsHonourTheLabel()
    {
        using var fx = new Fixtures();
        var r = await RunModel(fx, fx.JsonlPairs());
        Assert.Equal(0.5, r.Accuracy!.Value, 12);
        Assert.Equal((2L, 1L, 1L), (r.Pairs, r.Correct, r.TruthTies));
    }

    [Fact]
    public async Task NeverScoresTheSameImageTwiceAndReusesTheCache()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();

        // Add a pair that repeats two images of pair 0 with the same prompt: no extra scoring.
        var records = JsonSerializer.Deserialize<List<JsonElement>>(File.ReadAllText(data))!;
        var repeated = records.Select(e => (object)e).Append(new { prompt = "prompt 0", path1 = "images/p0_1.png", path2 = "images/p0_2.png" }).ToList();
        File.WriteAllText(data, JsonSerializer.Serialize(repeated));
        using var cache = new ScoreCache(fx.File("cache.sqlite"));
        using var first = fx.Scorer();
        var r1 = await RunModel(fx, data, cache: cache, scorer: first);
        Assert.Equal(22, first.Items);
        Assert.Equal(22, r1.ScoredImages);
        Assert.Equal(22, cache.Count);

        using var second = fx.Scorer();
        var r2 = await RunModel(fx, data, cache: cache, scorer: second);
        Assert.Equal(0, second.Items);
        Assert.Equal(24, r2.CacheHits);
        Assert.Equal(r1.Accuracy, r2.Accuracy);

        // Another model fingerprint does not reuse the first model's scores.
        using var other = fx.Scorer("another model");
        await RunModel(fx, data, cache: cache, scorer: other);
        Assert.Equal(22, other.Items);
    }

    [Fact]
    public async Task AKilledRunResumesWithoutRescoringFinishedBatches()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        using (var cache = new ScoreCache(fx.File("cache.sqlite")))
        {
            using var slow = fx.Scorer();
            slow.Delay = TimeSpan.FromMilliseconds(50);
            using var cts = new CancellationTokenSource();
            var source = new ModelScoreSource(slow, cache, fx.Root);

            // Cancel once the third chunk (2 pairs = 4 images each) has been scored.
            var progress = new SyncProgress<EvalProgress>(p =>
            {
                if (p.Records >= 6)
                {
                    cts.Cancel();
                }
            });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                Evaluator.RunAsync(EvalDataset.Open(data), source, new EvalOptions { ChunkSize = 2 }, progress, cts.Token));
            Assert.Equal(12, cache.Count);
        }

        // A new process: reopen the cache file; only the 10 images not finished are scored.
        using var reopened = new ScoreCache(fx.File("cache.sqlite"));
        using var scorer = fx.Scorer();
        var r = await Evaluator.RunAsync(EvalDataset.Open(data), new ModelScoreSource(scorer, reopened, fx.Root), new EvalOptions { ChunkSize = 2 });
        Assert.Equal(10, scorer.Items);
        Assert.Equal(8.0 / 11, r.Accuracy!.Value, 12);
    }

    [Fact]
    public async Task MissingAndUndecodableImagesAreCountedNotHidden()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        File.Delete(Path.Combine(fx.Root, "images/p0_1.png"));
        var records = JsonSerializer.Deserialize<List<JsonElement>>(File.ReadAllText(data))!.Select(e => (object)e).ToList();
        fx.Image("images/bad.png", 0);
        records.Add(new { prompt = "b", path1 = "images/bad.png", path2 = "images/p1_2.png" });
        File.WriteAllText(data, JsonSerializer.Serialize(records));
        var r = await RunModel(fx, data);
        Assert.Equal(1, r.Protocol.MissingImages);
        Assert.Equal(1, r.Protocol.FailedImages);
        Assert.Equal(2, r.Protocol.SkippedPairs);
        Assert.Equal(7.0 / 10, r.Accuracy!.Value, 12);
        Assert.Contains(r.Problems, p => p.Contains("p0_1.png", StringComparison.Ordinal) && p.Contains("not found", StringComparison.Ordinal));
        Assert.Contains(r.Problems, p => p.Contains("undecodable", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ImagePathsMayNotLeaveTheImageRoot()
    {
        using var fx = new Fixtures();
        var data = fx.File("escape.json");
        File.WriteAllText(data, """[{"prompt": "p", "path1": "../../etc/passwd", "path2": "a.png"}]""");
        await Assert.ThrowsAsync<ImagePathException>(() => RunModel(fx, data));
    }

    [Fact]
    public async Task ScoresFileGivesTheSameResultWithoutAModel()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        var withModel = await RunModel(fx, data);
        var scores = ScoresFileSource.Load(fx.ScoresFile());
        var fromFile = await Evaluator.RunAsync(EvalDataset.Open(data), scores);
        Assert.Equal(withModel.Accuracy, fromFile.Accuracy);
        Assert.Equal(withModel.Ci95, fromFile.Ci95);
        Assert.Equal(withModel.Reliability.Select(b => b.Count), fromFile.Reliability.Select(b => b.Count));
        Assert.Contains("precomputed scores", fromFile.Protocol.Scores, StringComparison.Ordinal);
        Assert.Equal("unknown (scores file)", fromFile.Protocol.Preprocessing);

        // Entries missing from the scores file are reported as missing images.
        var partial = ScoresFileSource.Load(fx.ScoresFile("partial.jsonl", k => k != "images/p3_2.png"));
        var r = await Evaluator.RunAsync(EvalDataset.Open(data), partial);
        Assert.Equal(1, r.Protocol.MissingImages);
        Assert.Equal(10, r.Pairs);
    }

    [Fact]
    public async Task ScoresFileAcceptsHpsScoreJsonOutput()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        var doc = new
        {
            model = new { name = "HPSv3", fingerprint = "abc", released_hpsv3 = true, dtype = "bf16", min_pixels = 200704, max_pixels = 200704 },
            results = fx.Mu.Select(kv => (object)new { image = kv.Key, prompt = (string?)null, mu = kv.Value, log_sigma = 0.1, sigma = Math.Exp(0.1) })
                .Append(new { image = "broken.png", error = "undecodable" }).ToArray(),
        };
        File.WriteAllText(fx.File("score.json"), JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        var source = ScoresFileSource.Load(fx.File("score.json"));
        Assert.NotNull(source.Model);
        var r = await Evaluator.RunAsync(EvalDataset.Open(data), source);
        Assert.Equal(8.0 / 11, r.Accuracy!.Value, 12);
        Assert.True(r.Protocol.ReleasedHpsv3);
        Assert.Equal("bf16", r.Protocol.Dtype);
    }

    [Fact]
    public void BadScoresFilesNameTheLine()
    {
        using var fx = new Fixtures();
        File.WriteAllLines(fx.File("s.jsonl"), ["{\"image\": \"a.png\", \"mu\": 1}", "{\"image\": \"b.png\"}"]);
        var ex = Assert.Throws<DatasetFormatException>(() => ScoresFileSource.Load(fx.File("s.jsonl")));
        Assert.Equal(2, ex.Line);
        Assert.Contains("'mu' is missing", ex.Message, StringComparison.Ordinal);
        File.WriteAllLines(fx.File("d.jsonl"), ["{\"image\": \"a.png\", \"mu\": 1}", "{\"image\": \"a.png\", \"mu\": 2}"]);
        Assert.Contains("already has μ = 1", Assert.Throws<DatasetFormatException>(() => ScoresFileSource.Load(fx.File("d.jsonl"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingToCountIsAClearError()
    {
        using var fx = new Fixtures();
        var data = fx.File("ties.json");
        File.WriteAllText(data, $$"""[{"prompt": "p", "path1": "{{fx.Image("x1.png", 1)}}", "path2": "{{fx.Image("x2.png", 2)}}", "choice_dist": [3, 3]}]""");
        var ex = await Assert.ThrowsAsync<MetricException>(() => RunModel(fx, data, new EvalOptions { TruthTies = GroundTruthTiePolicy.Exclude }));
        Assert.Contains("no pair could be counted", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NonFiniteModelScoresAreAnErrorForThatImageAndNeverCached()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        using var cache = new ScoreCache(fx.File("cache.sqlite"));
        using var nan = new HpsSharp.Testing.FakeScorer(r => r.Image.Name == "images/p3_2.png" ? new Score(double.NaN, 0) : r.Image.Name == "images/p4_1.png" ? new Score(1, double.PositiveInfinity) : new Score(fx.Mu[r.Image.Name], 0.1));
        var r = await RunModel(fx, data, cache: cache, scorer: nan);
        Assert.Equal(2, r.Protocol.FailedImages);
        Assert.Equal(2, r.Protocol.SkippedPairs);
        Assert.Equal(9, r.ScoredPairs);
        Assert.Contains(r.Problems, p => p.Contains("p3_2.png", StringComparison.Ordinal) && p.Contains("non-finite score (μ = NaN", StringComparison.Ordinal));
        Assert.Contains(r.Problems, p => p.Contains("p4_1.png", StringComparison.Ordinal) && p.Contains("log σ = Infinity", StringComparison.Ordinal));
        Assert.Equal(20, cache.Count);

        // Only NaN: nothing to count, and the message says why.
        using var allNan = new HpsSharp.Testing.FakeScorer(_ => new Score(double.NaN, 0));
        var ex = await Assert.ThrowsAsync<MetricException>(() => RunModel(fx, data, scorer: allNan));
        Assert.Contains("non-finite", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryFinishedBatchIsCachedBeforeTheNextOneStarts()
    {
        // One chunk of 22 images in one scorer call, killed after the 5th item: the 5 finished ones are in the cache
        // (the fake scorer reports every item as a finished batch, as HpsScorer reports each forward batch).
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        using var cache = new ScoreCache(fx.File("cache.sqlite"));
        using var cts = new CancellationTokenSource();
        int n = 0;
        using var scorer = new HpsSharp.Testing.FakeScorer(r =>
        {
            if (++n == 5)
            {
                cts.Cancel();
            }

            return new Score(fx.Mu[r.Image.Name], 0.1);
        });
        var source = new ModelScoreSource(scorer, cache, fx.Root);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Evaluator.RunAsync(EvalDataset.Open(data), source, null, null, cts.Token));
        Assert.Equal(5, cache.Count);

        // A scorer that reports no finished results is still cached when its call returns.
        using var quiet = new HpsSharp.Testing.FakeScorer(r => new Score(fx.Mu[r.Image.Name], 0.1)) { ReportsFinished = false };
        await Evaluator.RunAsync(EvalDataset.Open(data), new ModelScoreSource(quiet, cache, fx.Root));
        Assert.Equal(22, cache.Count);
        Assert.Equal(17, quiet.Items);
    }

    [Fact]
    public async Task ReliabilityCurveIsSymmetricAndCountsBothOrientations()
    {
        using var fx = new Fixtures();
        var r = await RunModel(fx, fx.Hpdv3());
        Assert.Equal(20, r.Reliability.Sum(b => b.Count));
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(r.Reliability[i].Count, r.Reliability[9 - i].Count);
        }

        // The 7 correct pairs have P(preferred) > 0.5 and humans agree: observed = 1 in their upper bin.
        var upper = r.Reliability.Where(b => b.Lower >= 0.5 && b.Count > 0).ToArray();
        Assert.Contains(upper, b => b.Observed == 1);
    }

    [Fact]
    public async Task ReliabilityUsesASeededSampleOfLargeDatasets()
    {
        using var fx = new Fixtures();
        var all = await RunModel(fx, fx.Hpdv3());
        Assert.Contains("over all 10 pairs without a human tie", all.ReliabilityProbability, StringComparison.Ordinal);
        var a = await RunModel(fx, fx.Hpdv3(), new EvalOptions { ReliabilitySampleLimit = 4, Seed = 3 });
        var b = await RunModel(fx, fx.Hpdv3(), new EvalOptions { ReliabilitySampleLimit = 4, Seed = 3 });
        Assert.Contains("a uniform sample (seed 3) of 4 of the 10 pairs", a.ReliabilityProbability, StringComparison.Ordinal);
        Assert.Equal(8, a.Reliability.Sum(x => x.Count));
        Assert.Equal(a.Reliability, b.Reliability);
    }

    [Fact]
    public async Task ScoresFileEntriesWithAPromptMatchOnlyThatPrompt()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        var lines = fx.Mu.Select(kv => JsonSerializer.Serialize(new { image = kv.Key, mu = kv.Value })).ToList();

        // Pair 7 (wrong: 0 vs 1) gets a prompt-specific score for its preferred image that makes it correct.
        lines.Add(JsonSerializer.Serialize(new { image = "images/p7_1.png", mu = 9.0, prompt = "prompt 7" }));
        lines.Add(JsonSerializer.Serialize(new { image = "images/p8_1.png", mu = 9.0, prompt = "another prompt" }));
        File.WriteAllLines(fx.File("s.jsonl"), lines);
        var r = await Evaluator.RunAsync(EvalDataset.Open(data), ScoresFileSource.Load(fx.File("s.jsonl")));
        Assert.Equal(9, r.Correct);
        Assert.Equal("P(A≻B) = sigmoid(μA−μB) (some scores have no σ), over all 10 pairs without a human tie; each pair counted in both orientations", r.ReliabilityProbability);
    }

    [Fact]
    public void FormatIsDetectedFromTheFile()
    {
        using var fx = new Fixtures();
        Assert.Equal(DatasetFormat.Hpdv3, EvalDataset.Detect(fx.Hpdv3()));
        Assert.Equal(DatasetFormat.ImageReward, EvalDataset.Detect(fx.ImageReward()));
        Assert.Equal(DatasetFormat.Hpdv2, EvalDataset.Detect(fx.Hpdv2()));
        Assert.Equal(DatasetFormat.Jsonl, EvalDataset.Detect(fx.JsonlPairs()));
        File.WriteAllText(fx.File("odd.json"), "[{\"x\": 1}]");
        // The library names its field; a front end prints it under its own name (the CLI: --format).
        var odd = Assert.Throws<DatasetFormatException>(() => EvalDataset.Detect(fx.File("odd.json")));
        Assert.EndsWith("; pass Format", odd.Message, StringComparison.Ordinal);
        Assert.EndsWith("; pass --format", odd.Describe(f => "--" + f.ToLowerInvariant()), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => EvalDataset.ParseFormat("csv"));
        Assert.Equal(DatasetFormat.ImageReward, EvalDataset.ParseFormat("imagereward"));
    }

    /// <summary>Progress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
