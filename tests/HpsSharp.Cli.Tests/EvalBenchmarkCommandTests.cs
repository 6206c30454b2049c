using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class EvalBenchmarkCommandTests
{
    /// <summary>An HPDv3 test file over the shared sample photos: 4 pairs, path1 preferred.</summary>
    private static (string Data, string Images) PhotoDataset(TempDir dir)
    {
        string images = Path.Combine(dir.Path, "images");
        Directory.CreateDirectory(images);
        foreach (var name in new[] { "chelsea.png", "coins.png", "rocket.jpg", "astronaut.png" })
        {
            File.Copy(TestPaths.Image(name), Path.Combine(images, name));
        }

        var prompts = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(TestPaths.Image("prompts.json")))!;
        var pairs = new[] { ("chelsea.png", "coins.png"), ("rocket.jpg", "astronaut.png"), ("coins.png", "rocket.jpg"), ("astronaut.png", "chelsea.png") }
            .Select(p => new { prompt = prompts[p.Item1], path1 = "images/" + p.Item1, path2 = "images/" + p.Item2, model1 = "photo", model2 = "photo" });
        string data = Path.Combine(dir.Path, "test.json");
        File.WriteAllText(data, JsonSerializer.Serialize(pairs));
        return (data, dir.Path);
    }

    private static string ModelDir(TempDir dir)
    {
        var m = Path.Combine(dir.Path, "model");
        Directory.CreateDirectory(m);
        return m;
    }

    /// <summary>μ = 1 for path1 images of pairs 0 and 1 (the first two path1 images), 0 otherwise.</summary>
    private static IScorer Scorer(ScorerOptions _) => new FakeScorer(r => new Score(r.Image.Name is "images/chelsea.png" or "images/rocket.jpg" ? 1 : 0, 0));

    [Fact]
    public async Task EvalWithAModelPrintsAccuracyAndTheProtocol()
    {
        using var dir = TestPaths.TempDir();
        var (data, _) = PhotoDataset(dir);
        var (code, stdout, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--model", ModelDir(dir), "--data", data, "--cache", dir.File("c.sqlite"));
        Assert.True(code == 0, stderr);

        // Pairs 0 and 1 correct; pair 2: coins (0) vs rocket (1) wrong; pair 3: astronaut (0) vs chelsea (1) wrong.
        Assert.Contains("pair_accuracy = 50.00%", stdout, StringComparison.Ordinal);
        foreach (var text in new[] { "tie policy", "strict: a predicted tie", "dataset sha256", "split", "min_pixels=200704", "do not come from the released HPSv3", "percentile bootstrap, 1000 resamples", "photo vs photo" })
        {
            Assert.Contains(text, stdout, StringComparison.Ordinal);
        }

        Assert.Contains(Path.GetFullPath(dir.Path), stdout.Replace("\n", "", StringComparison.Ordinal).Replace("│", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EvalJsonHasTheContractShapeAndTheReportOpens()
    {
        using var dir = TestPaths.TempDir();
        var (data, _) = PhotoDataset(dir);
        string report = dir.File("report");
        var (code, stdout, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--model", ModelDir(dir), "--data", data, "--json", "--tie-policy", "half", "--no-cache", "--report", report);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("pair_accuracy", root.GetProperty("metric").GetString());
        Assert.Equal(0.5, root.GetProperty("accuracy").GetDouble());
        Assert.Equal(4, root.GetProperty("pairs").GetInt64());
        Assert.Equal(2, root.GetProperty("correct").GetInt64());
        Assert.Equal(0, root.GetProperty("predicted_ties").GetInt64());
        Assert.Equal(2, root.GetProperty("ci95").GetArrayLength());
        Assert.Equal("half", root.GetProperty("protocol").GetProperty("tie_policy").GetString());
        Assert.True(File.Exists(Path.Combine(report, "report.html")));
        Assert.Contains("report.html", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EvalWithScoresNeedsNoModel()
    {
        using var dir = TestPaths.TempDir();
        var (data, _) = PhotoDataset(dir);
        File.WriteAllLines(dir.File("scores.jsonl"), [
            """{"image": "images/chelsea.png", "mu": 3.5, "log_sigma": 0.2}""",
            """{"image": "images/coins.png", "mu": 1.25}""",
            """{"image": "images/rocket.jpg", "mu": 2}""",
            """{"image": "images/astronaut.png", "mu": 2}""",
        ]);
        static IScorer NoModel(ScorerOptions _) => throw new InvalidOperationException("no model should be loaded");
        var (code, stdout, stderr) = await CliHarness.RunAsync(NoModel, "eval", "--scores", dir.File("scores.jsonl"), "--data", data, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);

        // chelsea > coins ok; rocket = astronaut (predicted tie: wrong under strict); coins < rocket wrong; astronaut < chelsea wrong.
        Assert.Equal(0.25, doc.RootElement.GetProperty("accuracy").GetDouble());
        Assert.Equal(1, doc.RootElement.GetProperty("predicted_ties").GetInt64());
        Assert.Contains("precomputed scores", doc.RootElement.GetProperty("protocol").GetProperty("scores").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EvalShowsTheRewardHackingMonitorsWithDriftAgainstACalibration()
    {
        using var dir = TestPaths.TempDir();
        var (data, _) = PhotoDataset(dir);
        File.WriteAllLines(dir.File("scores.jsonl"), [
            """{"image": "images/chelsea.png", "mu": 9.5, "log_sigma": 0.2}""",
            """{"image": "images/coins.png", "mu": 9, "log_sigma": 0.2}""",
            """{"image": "images/rocket.jpg", "mu": 10, "log_sigma": 0.2}""",
            """{"image": "images/astronaut.png", "mu": 8.5, "log_sigma": 0.2}""",
        ]);
        Calibration.FromScores(new ModelInfo("ref model", "fp", false, "fp32", 1, 1), "ref.jsonl", "00",
            [.. Enumerable.Range(0, 21).Select(i => new Score(i / 10.0, 0))], 0).Save(dir.File("calib.json"));
        static IScorer NoModel(ScorerOptions _) => throw new InvalidOperationException("no model should be loaded");
        string report = dir.File("report");
        var (code, stdout, stderr) = await CliHarness.RunAsync(NoModel, "eval", "--scores", dir.File("scores.jsonl"), "--data", data, "--json", "--calibration", dir.File("calib.json"), "--report", report);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var m = doc.RootElement.GetProperty("monitors");
        Assert.True(m.GetProperty("drift").GetProperty("alert").GetBoolean());
        Assert.True(m.GetProperty("drift").GetProperty("z").GetDouble() > 10);
        // Each photo appears under two prompts: 8 distinct (prompt, image) items, all with pixels read from the dataset's folder.
        Assert.Equal(8, m.GetProperty("window").GetProperty("items").GetInt32());
        Assert.Equal(8, m.GetProperty("saturated_share").GetProperty("images").GetInt32());
        Assert.Contains("drift", m.GetProperty("alerts").EnumerateArray().Select(a => a.GetString()));
        Assert.Contains("Monitors firing:", File.ReadAllText(Path.Combine(report, "report.md")), StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.RunAsync(NoModel, "eval", "--scores", dir.File("scores.jsonl"), "--data", data, "--calibration", dir.File("nope.json"));
        Assert.Equal(1, code);
        Assert.Contains("nope.json: calibration file not found", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EvalUsageAndInputErrorsGetTheRightExitCodes()
    {
        using var dir = TestPaths.TempDir();
        var (data, _) = PhotoDataset(dir);
        var (code, stdout, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--data", data);
        Assert.Equal(2, code);
        Assert.Contains("exactly one of --model DIR or --scores FILE", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);

        (code, _, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--data", data, "--scores", data, "--tie-policy", "sometimes");
        Assert.Equal(2, code);

        File.WriteAllText(dir.File("bad.json"), "[\n{\"prompt\": \"p\", \"path1\": \"a.png\"}\n]");
        (code, _, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--model", ModelDir(dir), "--data", dir.File("bad.json"), "--format", "hpdv3", "--no-cache");
        Assert.Equal(1, code);
        Assert.Contains($"{dir.File("bad.json")}, line 2: record 0: 'path2' is missing", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--model", ModelDir(dir), "--data", dir.File("missing.json"));
        Assert.Equal(1, code);
        Assert.Contains("missing.json", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchmarkRanksModelsAndCorrelatesWithThePaperTable()
    {
        using var dir = TestPaths.TempDir();
        string root = Path.Combine(dir.Path, "bench");
        var means = new Dictionary<string, double>
        {
            ["Kolors"] = 10.55, ["Flux-dev"] = 10.43, ["Playground-v2.5"] = 10.27, ["Infinity"] = 10.26, ["CogView4"] = 9.61,
            ["PixArt-Sigma"] = 9.37, ["SDXL"] = 8.20, ["HunyuanDiT"] = 8.19, ["SD3-Medium"] = 5.31, ["SD2"] = -0.24,
        };
        foreach (var model in means.Keys)
        {
            Directory.CreateDirectory(Path.Combine(root, model, "Animals"));
            File.WriteAllText(Path.Combine(root, model, "Animals", "0.png"), model);
            File.WriteAllText(Path.Combine(root, model, "Animals", "0.txt"), "a fox in the snow");
        }

        IScorer Loader(ScorerOptions _) => new FakeScorer(r => new Score(means[r.Image.Name.Split('/')[0]], 0));
        string report = dir.File("report");
        var (code, stdout, stderr) = await CliHarness.RunAsync(Loader, "benchmark", "--model", ModelDir(dir), "--root", root, "--json", "--cache", dir.File("c.sqlite"), "--report", report);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var c = doc.RootElement.GetProperty("correlation");
        Assert.Equal(0.939, c.GetProperty("spearman").GetDouble(), 3);
        Assert.Equal(0.822, c.GetProperty("kendall_tau_b").GetDouble(), 3);
        Assert.Equal(0.0297, c.GetProperty("normalized_mse").GetDouble(), 4);
        Assert.Equal("Kolors", doc.RootElement.GetProperty("models")[0].GetProperty("model").GetString());
        Assert.True(File.Exists(Path.Combine(report, "report.html")));

        (code, stdout, stderr) = await CliHarness.RunAsync(Loader, "benchmark", "--model", ModelDir(dir), "--root", root, "--cache", dir.File("c.sqlite"));
        Assert.True(code == 0, stderr);
        Assert.Contains("Spearman ρ = 0.939", stdout, StringComparison.Ordinal);
        Assert.Contains("mean of the category means", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DeterministicAndBatchedScoresNeverShareTheCache(bool deterministicFirst)
    {
        // The fake stands for bf16 batch effects: batched it gets pairs 0 and 1 right (50%), one item per forward pairs
        // 0, 1 and 2 (75%). A run that reused the other mode's cached scores would print the other mode's accuracy.
        static IScorer Loader(ScorerOptions o) => o.Deterministic
            ? new FakeScorer(r => new Score(r.Image.Name switch { "images/chelsea.png" => 3, "images/coins.png" => 2, "images/rocket.jpg" => 1, _ => 0 }, 0))
            : new FakeScorer(r => new Score(r.Image.Name is "images/chelsea.png" or "images/rocket.jpg" ? 1 : 0, 0));
        using var dir = TestPaths.TempDir();
        var (data, _) = PhotoDataset(dir);
        string cache = dir.File("c.sqlite");

        async Task<JsonElement> Eval(bool deterministic)
        {
            string[] args = ["eval", "--model", ModelDir(dir), "--data", data, "--json", "--cache", cache, .. (deterministic ? new[] { "--deterministic" } : [])];
            var (code, stdout, stderr) = await CliHarness.RunAsync(Loader, args);
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            return doc.RootElement.Clone();
        }

        foreach (bool deterministic in new[] { deterministicFirst, !deterministicFirst, deterministicFirst })
        {
            var root = await Eval(deterministic);
            Assert.Equal(deterministic ? 0.75 : 0.5, root.GetProperty("accuracy").GetDouble());
            Assert.Equal(deterministic, root.GetProperty("protocol").GetProperty("deterministic").GetBoolean());
        }
    }

    [Fact]
    public async Task EvalProtocolSaysWhetherTheRunWasDeterministic()
    {
        using var dir = TestPaths.TempDir();
        var (data, _) = PhotoDataset(dir);
        var (code, stdout, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--model", ModelDir(dir), "--data", data, "--no-cache", "--deterministic");
        Assert.True(code == 0, stderr);
        Assert.Contains("yes: one item per forward", stdout, StringComparison.Ordinal);
        (code, stdout, stderr) = await CliHarness.RunAsync(Scorer, "eval", "--model", ModelDir(dir), "--data", data, "--no-cache");
        Assert.True(code == 0, stderr);
        Assert.Contains("no: batched forwards", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchmarkProtocolSaysWhetherTheRunWasDeterministic()
    {
        using var dir = TestPaths.TempDir();
        string root = Path.Combine(dir.Path, "bench");
        foreach (var model in new[] { "SDXL", "SD2" })
        {
            Directory.CreateDirectory(Path.Combine(root, model));
            File.WriteAllText(Path.Combine(root, model, "0.png"), model);
            File.WriteAllText(Path.Combine(root, model, "0.txt"), "a fox in the snow");
        }

        IScorer Loader(ScorerOptions _) => new FakeScorer(r => new Score(r.Image.Name.StartsWith("SDXL/", StringComparison.Ordinal) ? 8 : 0, 0));
        foreach (bool deterministic in new[] { true, false })
        {
            string[] flag = deterministic ? ["--deterministic"] : [];
            var (code, stdout, stderr) = await CliHarness.RunAsync(Loader, ["benchmark", "--model", ModelDir(dir), "--root", root, "--no-cache", "--json", .. flag]);
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            Assert.Equal(deterministic, doc.RootElement.GetProperty("protocol").GetProperty("deterministic").GetBoolean());

            (code, stdout, stderr) = await CliHarness.RunAsync(Loader, ["benchmark", "--model", ModelDir(dir), "--root", root, "--no-cache", .. flag]);
            Assert.True(code == 0, stderr);
            Assert.Contains(deterministic ? "yes: one item per forward" : "no: batched forwards", stdout, StringComparison.Ordinal);
        }

        // Precomputed scores carry no model: the line says so rather than guessing.
        string scores = dir.File("scores.jsonl");
        File.WriteAllLines(scores, ["{\"image\": \"SDXL/0.png\", \"mu\": 8}", "{\"image\": \"SD2/0.png\", \"mu\": 0}"]);
        var (c, o, e) = await CliHarness.RunAsync(Loader, "benchmark", "--scores", scores, "--root", root);
        Assert.True(c == 0, e);
        Assert.Contains("unknown (scores file)", o, StringComparison.Ordinal);
        Assert.DoesNotContain("one item per forward", o, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchmarkWithAMissingRootIsAUserError()
    {
        var (code, _, stderr) = await CliHarness.RunAsync(Scorer, "benchmark", "--scores", "x.jsonl", "--root", "/no/such/folder");
        Assert.Equal(1, code);
        Assert.Contains("/no/such/folder", stderr, StringComparison.Ordinal);
    }
}

/// <summary>
/// Once with the tiny real model (HPSv3 architecture, random weights) through the real scorer loader.
/// </summary>
[Trait("Category", "Model")]
public sealed class EvalTinyModelTests
{
    [Fact]
    public async Task EvalAndBenchmarkRunEndToEndWithTheTinyModel()
    {
        using var dir = TestPaths.TempDir();
        string model = TestPaths.TinyModelDir(dir);
        string images = Path.Combine(dir.Path, "images");
        Directory.CreateDirectory(images);
        File.Copy(TestPaths.Image("chelsea.png"), Path.Combine(images, "a.png"));
        File.Copy(TestPaths.Image("coins.png"), Path.Combine(images, "b.png"));
        File.Copy(TestPaths.Image("rocket.jpg"), Path.Combine(images, "c.jpg"));
        File.WriteAllText(dir.File("test.json"), """
            [{"prompt": "a cat", "path1": "images/a.png", "path2": "images/b.png"},
             {"prompt": "a rocket", "path1": "images/c.jpg", "path2": "images/a.png"}]
            """);
        string cache = dir.File("cache.sqlite");
        var (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--model", model, "--data", dir.File("test.json"), "--dtype", "fp32", "--json", "--cache", cache);
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var root = doc.RootElement;
            Assert.Equal(2, root.GetProperty("scored_pairs").GetInt64());
            Assert.Equal(4, root.GetProperty("scored_images").GetInt64());
            Assert.False(root.GetProperty("protocol").GetProperty("released_hpsv3").GetBoolean());
            Assert.Equal("fp32", root.GetProperty("protocol").GetProperty("dtype").GetString());
        }

        // The rerun takes every score from the cache.
        (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--model", model, "--data", dir.File("test.json"), "--dtype", "fp32", "--json", "--cache", cache);
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(0, doc.RootElement.GetProperty("scored_images").GetInt64());
            Assert.Equal(4, doc.RootElement.GetProperty("cache_hits").GetInt64());
        }

        string bench = Path.Combine(dir.Path, "bench");
        foreach (var (m, img) in new[] { ("Kolors", "chelsea.png"), ("SD2", "coins.png") })
        {
            Directory.CreateDirectory(Path.Combine(bench, m));
            File.Copy(TestPaths.Image(img), Path.Combine(bench, m, "0.png"));
            File.WriteAllText(Path.Combine(bench, m, "0.txt"), "a photo");
        }

        (code, stdout, stderr) = await CliHarness.RunAsync("benchmark", "--model", model, "--root", bench, "--dtype", "fp32", "--json", "--no-cache");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            // Each model's mean is the score its image gets offline (one image per model), best model first.
            var (sc, sout, serr) = await CliHarness.RunAsync("score", "--model", model, "--dtype", "fp32", "--json", "--batch-size", "1", "--prompt", "a photo",
                Path.Combine(bench, "Kolors", "0.png"), Path.Combine(bench, "SD2", "0.png"));
            Assert.True(sc == 0, serr);
            using var offline = JsonDocument.Parse(sout);
            var mu = offline.RootElement.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("mu").GetDouble()).ToArray();
            var expected = new Dictionary<string, double> { ["Kolors"] = mu[0], ["SD2"] = mu[1] };
            var models = doc.RootElement.GetProperty("models").EnumerateArray().ToList();
            Assert.Equal(2, models.Count);
            Assert.Equal(expected.OrderByDescending(kv => kv.Value).Select(kv => kv.Key), models.Select(m => m.GetProperty("model").GetString()));
            foreach (var m in models)
            {
                Assert.Equal(expected[m.GetProperty("model").GetString()!], m.GetProperty("overall").GetDouble(), 5);
                Assert.Equal(1, m.GetProperty("images").GetInt32());
            }

            Assert.Equal(2, doc.RootElement.GetProperty("protocol").GetProperty("images").GetInt32());
            Assert.NotEqual(mu[0], mu[1]); // two different images, so the order above is a real check
        }
    }

    [Fact]
    public async Task TheScoreCacheKeysOnTheWeightsContentNotTheirHeader()
    {
        using var dir = TestPaths.TempDir();
        string tiny = TestPaths.TinyModelDir(dir);
        string images = Path.Combine(dir.Path, "images");
        Directory.CreateDirectory(images);
        File.Copy(TestPaths.Image("chelsea.png"), Path.Combine(images, "a.png"));
        File.Copy(TestPaths.Image("coins.png"), Path.Combine(images, "b.png"));
        File.WriteAllText(dir.File("test.json"), """[{"prompt": "a cat", "path1": "images/a.png", "path2": "images/b.png"}]""");
        string cache = dir.File("cache.sqlite");

        // Two checkpoints with the same header and size: a copy, and a copy whose last rm_head layer has its two
        // output rows swapped (μ and log σ trade places), as two steps of one training run look.
        string Copy(string name)
        {
            string m = Path.Combine(dir.Path, name);
            Directory.CreateDirectory(m);
            foreach (var f in Directory.GetFiles(tiny))
            {
                File.Copy(f, Path.Combine(m, Path.GetFileName(f)));
            }

            return m;
        }

        string same = Copy("same");
        string shuffled = Copy("shuffled");
        string weights = Path.Combine(shuffled, "model.safetensors");
        long begin, rowBytes;
        using (var file = HpsSharp.Core.Safetensors.SafetensorsFile.Open(weights))
        {
            var t = file["rm_head.5.weight"];
            (begin, rowBytes) = (file.DataOffset + t.Begin, t.ByteLength / 2);
        }

        var bytes = File.ReadAllBytes(weights);
        var row0 = bytes.AsSpan((int)begin, (int)rowBytes).ToArray();
        bytes.AsSpan((int)(begin + rowBytes), (int)rowBytes).CopyTo(bytes.AsSpan((int)begin));
        row0.CopyTo(bytes.AsSpan((int)(begin + rowBytes)));
        File.WriteAllBytes(weights, bytes);

        async Task<(long Scored, long Hits, double Accuracy)> Eval(string model)
        {
            var (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--model", model, "--data", dir.File("test.json"), "--dtype", "fp32", "--json", "--cache", cache, "--bootstrap", "0");
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            return (root.GetProperty("scored_images").GetInt64(), root.GetProperty("cache_hits").GetInt64(), root.GetProperty("accuracy").GetDouble());
        }

        var first = await Eval(tiny);
        Assert.Equal((2L, 0L), (first.Scored, first.Hits));

        // The same bytes under another path hit the cache; the perturbed head is scored afresh.
        var again = await Eval(same);
        Assert.Equal((0L, 2L, first.Accuracy), again);
        var other = await Eval(shuffled);
        Assert.Equal((2L, 0L), (other.Scored, other.Hits));

        // The cache holds both models' scores.
        using var db = new HpsSharp.Evaluation.ScoreCache(cache);
        Assert.Equal(4, db.Count);
    }
}
