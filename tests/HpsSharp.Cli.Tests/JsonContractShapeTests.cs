using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster;
using HpsSharp.Cluster.Grains;
using HpsSharp.Testing;
using HpsSharp.Testing.Generators;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>
/// Pins the JSON shapes other programs rely on (PRODUCT.md): the real commands and the real service, run on the tiny
/// HPSv3 model (and the tiny PickScore checkpoint for a scorer without σ), must print exactly these property names,
/// JSON types and nesting. Values that depend on the model are not compared. A field added on purpose is added here.
/// </summary>
/// <remarks>
/// A shape is one line per path: <c>results[].mu: number</c>; array elements share the path <c>[]</c>, so a path
/// that holds different types in different elements lists them all (<c>null|number</c>). Items whose shapes differ
/// on purpose (a failed item) are pinned on their own as well.
/// </remarks>
[Trait("Category", "Model")]
public sealed partial class JsonContractShapeTests : IDisposable
{
    private const string Prompt = "a cat + a dog × 2";
    private readonly TempDir _dir = TestPaths.TempDir("hps-contract-");

    public void Dispose() => _dir.Dispose();

    private const string Model =
        """
        model: object
        model.dtype: string
        model.fingerprint: string
        model.max_pixels: number
        model.min_pixels: number
        model.name: string
        model.released_hpsv3: false
        model.scorer: string
        """;

    private string[] Images()
    {
        var paths = new[] { "chelsea.png", "rocket.jpg" }.Select(TestPaths.Image).ToList();
        var broken = _dir.File("broken.png");
        File.WriteAllText(broken, "definitely not an image");
        paths.Add(broken);
        return [.. paths];
    }

    [Fact]
    public async Task CommandsPrintTheDocumentedShapes()
    {
        var model = TestPaths.TinyModelDir(_dir);
        var images = Images();

        // hps score --json: model, then one result per image; a failed item keeps mu/log_sigma/sigma as null.
        var (code, stdout, stderr) = await CliHarness.RunAsync(["score", "--model", model, "--dtype", "fp32", "--json", "--prompt", Prompt, .. images]);
        Assert.True(code == 1, stderr); // the broken image fails
        var score = JsonNode.Parse(stdout)!;
        AssertShape(
            "$: object\n" + Model + "\n" + """
            results: array
            results[]: object
            results[].error: string
            results[].image: string
            results[].log_sigma: null|number
            results[].mu: null|number
            results[].prompt: string
            results[].score: number
            results[].scorer: string
            results[].sigma: null|number
            """, score);
        AssertShape(
            """
            $: object
            error: string
            image: string
            log_sigma: null
            mu: null
            prompt: string
            scorer: string
            sigma: null
            """, score["results"]![2]);
        AssertShape(
            """
            $: object
            image: string
            log_sigma: number
            mu: number
            prompt: string
            score: number
            scorer: string
            sigma: number
            """, score["results"]![0]);

        // '+' and '×' are written as they are, not as \u002B and \u00D7.
        Assert.Contains(Prompt, stdout, StringComparison.Ordinal);

        // A scorer without σ: score and scorer only.
        var (pcode, pout, perr) = await CliHarness.RunAsync(["score", "--scorer", "pickscore", "--model", ServeScorersTests.PickScoreDir(_dir), "--json", "--prompt", Prompt, .. images[..2]]);
        Assert.True(pcode == 0, perr);
        AssertShape(
            "$: object\n" + Model + "\n" + """
            results: array
            results[]: object
            results[].image: string
            results[].prompt: string
            results[].score: number
            results[].scorer: string
            """, JsonNode.Parse(pout));

        (code, stdout, stderr) = await CliHarness.RunAsync(["compare", "--model", model, "--dtype", "fp32", "--json", "--prompt", Prompt, images[0], images[1]]);
        Assert.True(code == 0, stderr);
        AssertShape(
            """
            $: object
            a: object
            a.image: string
            a.log_sigma: number
            a.mu: number
            a.score: number
            a.scorer: string
            a.sigma: number
            b: object
            b.image: string
            b.log_sigma: number
            b.mu: number
            b.score: number
            b.scorer: string
            b.sigma: number
            """ + "\n" + Model + "\n" + """
            p_a_over_b: number
            preferred: string
            """, JsonNode.Parse(stdout));

        (code, stdout, stderr) = await CliHarness.RunAsync(["rank", "--model", model, "--dtype", "fp32", "--json", "--prompt", Prompt, images[0], images[1]]);
        Assert.True(code == 0, stderr);
        AssertShape(
            "$: object\n" + Model + "\n" + """
            order: array
            order[]: number
            results: array
            results[]: object
            results[].image: string
            results[].log_sigma: number
            results[].mu: number
            results[].prompt: string
            results[].score: number
            results[].scorer: string
            results[].sigma: number
            """, JsonNode.Parse(stdout));

        (code, stdout, stderr) = await CliHarness.RunAsync("tokenize", "--model", model, "--text", Prompt, "--json");
        Assert.True(code == 0, stderr);
        AssertShape("$: object\nids: array\nids[]: number", JsonNode.Parse(stdout));
        Assert.Single(stdout.TrimEnd().Split('\n')); // compact: one line
        (code, stdout, stderr) = await CliHarness.RunAsync("tokenize", "--model", model, "--prompt", Prompt, "--image", images[0], "--json");
        Assert.True(code == 0, stderr);
        AssertShape("$: object\nids: array\nids[]: number\nreward_index: number", JsonNode.Parse(stdout));

        // hps eval --scores reads an `hps score --json` document (its model object included) and prints the result.
        File.WriteAllText(_dir.File("scores.json"), score.ToJsonString());
        File.WriteAllText(_dir.File("pairs.json"), JsonSerializer.Serialize(new[]
        {
            new { prompt = Prompt, path1 = images[0], path2 = images[1] },
            new { prompt = Prompt, path1 = images[1], path2 = images[2] },
        }));
        (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--scores", _dir.File("scores.json"), "--data", _dir.File("pairs.json"), "--format", "hpdv3", "--json");
        Assert.True(code == 0, stderr);
        var eval = JsonNode.Parse(stdout)!;
        AssertShape(EvalShape, eval);
        Assert.StartsWith((string)score["model"]!["name"]!, (string?)eval["protocol"]!["model"], StringComparison.Ordinal); // the model read back from the document
        Assert.Equal((string?)score["model"]!["dtype"], (string?)eval["protocol"]!["dtype"]);
    }

    private const string EvalShape =
        """
        $: object
        accuracy: number
        by_category: array
        by_model_pair: array
        cache_hits: number
        ci95: array
        ci95[]: number
        correct: number
        ground_truth_ties: number
        items: null
        mean_item_accuracy: null
        metric: string
        monitors.alerts: array
        monitors.drift: null
        monitors.groups.prompts: number
        monitors.groups.with_two_or_more: number
        monitors.groups: object
        monitors.mean_sigma: number
        monitors.saturated_share.alert: bool
        monitors.saturated_share.images: number
        monitors.saturated_share.mean: null
        monitors.saturated_share.threshold: number
        monitors.saturated_share: object
        monitors.sigma_trend.alert: bool
        monitors.sigma_trend.newer_half_mean: number
        monitors.sigma_trend.older_half_mean: number
        monitors.sigma_trend.ratio: number
        monitors.sigma_trend.slope_per_1000: number
        monitors.sigma_trend.threshold_ratio: number
        monitors.sigma_trend: object
        monitors.spread.alert: bool
        monitors.spread.collapse_std: number
        monitors.spread.collapsed_groups: number
        monitors.spread.mean_std: number
        monitors.spread.min_std: number
        monitors.spread: object
        monitors.window.calibration: null
        monitors.window.items: number
        monitors.window.order: string
        monitors.window.with_pixels: number
        monitors.window.with_sigma: number
        monitors.window: object
        monitors: object
        pairs: number
        predicted_ties: number
        problems: array
        problems[]: string
        protocol.bootstrap: string
        protocol.dataset: string
        protocol.dataset_sha256: string
        protocol.deterministic: bool
        protocol.dtype: string
        protocol.evaluated_utc: string
        protocol.failed_images: number
        protocol.format: string
        protocol.ground_truth_ties: string
        protocol.ground_truth_ties_definition: string
        protocol.hpssharp_version: string
        protocol.images_root: null
        protocol.metric: string
        protocol.metric_definition: string
        protocol.missing_images: number
        protocol.model: string
        protocol.preprocessing: string
        protocol.records: number
        protocol.released_hpsv3: false
        protocol.scores: string
        protocol.skipped_pairs: number
        protocol.split: string
        protocol.tie_policy: string
        protocol.tie_policy_definition: string
        protocol: object
        reliability: array
        reliability[].count: number
        reliability[].lower: number
        reliability[].mean_predicted: null|number
        reliability[].observed: null|number
        reliability[].upper: number
        reliability[]: object
        reliability_probability: string
        scored_images: number
        scored_pairs: number
        wrong: number
        """;

    [Fact]
    public async Task BenchmarkAndScorerComparisonPrintTheDocumentedShapes()
    {
        var model = TestPaths.TinyModelDir(_dir);

        // hps benchmark: two model folders (one with categories, one without), an image without its .txt prompt.
        var root = _dir.File("bench");
        foreach (var (folder, image, prompt) in new[] { ("Kolors/Animals", "chelsea.png", "a cat"), ("Kolors/Food", "coffee.png", "a cup"), ("SDXL", "rocket.jpg", "a rocket") })
        {
            Directory.CreateDirectory(Path.Combine(root, folder));
            File.Copy(TestPaths.Image(image), Path.Combine(root, folder, image));
            File.WriteAllText(Path.Combine(root, folder, Path.ChangeExtension(image, ".txt")), prompt);
        }

        File.Copy(TestPaths.Image("coins.png"), Path.Combine(root, "SDXL", "coins.png"));
        var (code, stdout, stderr) = await CliHarness.RunAsync("benchmark", "--model", model, "--root", root, "--dtype", "fp32", "--json", "--no-cache");
        Assert.True(code == 0, stderr);
        AssertShape(BenchmarkShape, JsonNode.Parse(stdout));

        // hps eval --scorers: the comparison table, its protocol (the dataset rules only), each scorer's full result.
        var images = _dir.File("images");
        Directory.CreateDirectory(images);
        foreach (var f in new[] { "chelsea.png", "rocket.jpg", "coffee.png" })
        {
            File.Copy(TestPaths.Image(f), Path.Combine(images, f));
        }

        File.WriteAllText(_dir.File("pairs.json"), JsonSerializer.Serialize(new[]
        {
            new { prompt = Prompt, path1 = "chelsea.png", path2 = "rocket.jpg" },
            new { prompt = Prompt, path1 = "rocket.jpg", path2 = "coffee.png" },
        }));
        (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--scorers", "hpsv3,pickscore", "--model", model, "--model-for", $"pickscore={ServeScorersTests.PickScoreDir(_dir)}",
            "--data", _dir.File("pairs.json"), "--format", "hpdv3", "--images", images, "--dtype", "fp32", "--json", "--no-cache");
        Assert.True(code == 0, stderr);
        var comparison = JsonNode.Parse(stdout)!.AsObject();
        var results = comparison["results"]!.AsArray();
        Assert.Equal(2, results.Count);
        comparison.Remove("results");
        AssertShape(ComparisonShape, comparison);

        // Each result is an `hps eval --json` document: its protocol has the eval protocol's fields.
        var evalProtocol = EvalShape.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("protocol.", StringComparison.Ordinal)).Select(l => l[..l.IndexOf(':', StringComparison.Ordinal)]);
        foreach (var r in results)
        {
            Assert.Equal(evalProtocol.Order(StringComparer.Ordinal), Shape(r!["protocol"]).Where(l => !l.StartsWith("$", StringComparison.Ordinal)).Select(l => "protocol." + l[..l.IndexOf(':', StringComparison.Ordinal)]));
            Assert.Equal((string?)comparison["protocol"]!["dataset_sha256"], (string?)r["protocol"]!["dataset_sha256"]);
        }
    }

    private const string BenchmarkShape =
        """
        $: object
        correlation.kendall_tau_b: number
        correlation.models: array
        correlation.models[]: string
        correlation.normalized_mse: number
        correlation.note: string
        correlation.spearman: number
        correlation: object
        models: array
        models[].categories: array
        models[].categories[].category: string
        models[].categories[].images: number
        models[].categories[].mean: number
        models[].categories[].std: number
        models[].categories[]: object
        models[].human_reference: number
        models[].images: number
        models[].model: string
        models[].overall: number
        models[]: object
        problems: array
        problems[]: string
        protocol.aggregation: string
        protocol.correlation: string
        protocol.deterministic: bool
        protocol.dtype: string
        protocol.evaluated_utc: string
        protocol.hpssharp_version: string
        protocol.images: number
        protocol.layout: string
        protocol.manifest_sha256: string
        protocol.missing_or_failed_images: number
        protocol.missing_prompts: number
        protocol.model: string
        protocol.preprocessing: string
        protocol.reference: string
        protocol.released_hpsv3: false
        protocol.root: string
        protocol.scores: string
        protocol: object
        """;

    private const string ComparisonShape =
        """
        $: object
        paper.column: string
        paper.note: string
        paper.source: string
        paper: object
        protocol.bootstrap: string
        protocol.dataset: string
        protocol.dataset_sha256: string
        protocol.evaluated_utc: string
        protocol.format: string
        protocol.ground_truth_ties: string
        protocol.ground_truth_ties_definition: string
        protocol.hpssharp_version: string
        protocol.images_root: string
        protocol.metric: string
        protocol.metric_definition: string
        protocol.records: number
        protocol.split: string
        protocol.tie_policy: string
        protocol.tie_policy_definition: string
        protocol: object
        same_pairs: bool
        scorers: array
        scorers[].accuracy: number
        scorers[].cache_hits: number
        scorers[].ci95: array
        scorers[].ci95[]: number
        scorers[].correct: number
        scorers[].dtype: string
        scorers[].failed_images: number
        scorers[].ground_truth_ties: number
        scorers[].mean_item_accuracy: null
        scorers[].missing_images: number
        scorers[].model: string
        scorers[].pairs: number
        scorers[].paper_accuracy: number
        scorers[].paper_note: null
        scorers[].paper_row: string
        scorers[].predicted_ties: number
        scorers[].preprocessing: string
        scorers[].scored_images: number
        scorers[].scored_pairs: number
        scorers[].scorer: string
        scorers[].scores: string
        scorers[].skipped_pairs: number
        scorers[].wrong: number
        scorers[]: object
        """;

    [Fact]
    [Trait("Category", "Integration")]
    public async Task CohpRunRecordHasTheDocumentedShape()
    {
        using var a1111 = new FakeA1111Server();
        File.WriteAllText(_dir.File("generators.json"), $$"""
            [{"name": "sdxl", "kind": "a1111", "url": "{{a1111.Url}}", "width": 48, "height": 48, "steps": 20, "retry_delay_s": 0.01}]
            """);
        Directory.CreateDirectory(_dir.File("model"));
        var (code, stdout, stderr) = await CliHarness.RunAsync(_ => new FakeScorer(), ["cohp", "--prompt", Prompt, "--generators", _dir.File("generators.json"), "--model", _dir.File("model"),
            "--out", _dir.File("run"), "--seed", "5", "--rounds", "1", "--candidates", "2", "--images-per-generator", "2", "--threshold", "-1000", "--json"]);
        Assert.True(code == 0, stderr);
        var run = JsonNode.Parse(File.ReadAllText(_dir.File("run/run.json")))!;
        Assert.Equal(run.ToJsonString(), JsonNode.Parse(stdout)!.ToJsonString()); // --json prints run.json
        Assert.Contains(Prompt, File.ReadAllText(_dir.File("run/run.json")), StringComparison.Ordinal); // '+' and '×' as they are
        AssertShape(
            """
            $: object
            chosen_generator: string
            counts: object
            counts.generated: number
            counts.reused: number
            counts.scored: number
            final: object
            final.copy: string
            final.file: string
            final.mu: number
            model: object
            model.dtype: string
            model.fingerprint: string
            model.max_pixels: number
            model.min_pixels: number
            model.name: string
            model.released_hpsv3: false
            model.scorer: string
            model_stage: array
            model_stage[]: object
            model_stage[].generator: string
            model_stage[].images: array
            model_stage[].images[]: object
            model_stage[].images[].file: string
            model_stage[].images[].generator: string
            model_stage[].images[].index: number
            model_stage[].images[].log_sigma: number
            model_stage[].images[].mu: number
            model_stage[].images[].recipe: string
            model_stage[].images[].scored_by: string
            model_stage[].images[].seed: number
            model_stage[].images[].sha256: string
            model_stage[].images[].sigma: number
            model_stage[].images[].stage: string
            model_stage[].mean_mu: number
            prompt: string
            rounds: array
            rounds[]: object
            rounds[].bar: number
            rounds[].best: string
            rounds[].best_mu: number
            rounds[].candidates: array
            rounds[].candidates[]: object
            rounds[].candidates[].file: string
            rounds[].candidates[].generator: string
            rounds[].candidates[].index: number
            rounds[].candidates[].log_sigma: number
            rounds[].candidates[].mu: number
            rounds[].candidates[].recipe: string
            rounds[].candidates[].round: number
            rounds[].candidates[].scored_by: string
            rounds[].candidates[].seed: number
            rounds[].candidates[].sha256: string
            rounds[].candidates[].sigma: number
            rounds[].candidates[].source: string
            rounds[].candidates[].stage: string
            rounds[].candidates[].strength: number
            rounds[].kept: string
            rounds[].round: number
            rounds[].source: string
            rounds[].strength: number
            settings: object
            settings.candidates_per_round: number
            settings.early_stop: bool
            settings.generators: array
            settings.generators[]: object
            settings.generators[].fingerprint: string
            settings.generators[].kind: string
            settings.generators[].name: string
            settings.generators[].url: string
            settings.images_per_generator: number
            settings.rounds: number
            settings.seed: number
            settings.start_competes: bool
            settings.strengths: array
            settings.strengths[]: number
            settings.threshold: number
            start: object
            start.file: string
            start.mu: number
            status: string
            version: number
            """, run);
    }

    [FfmpegFact]
    [Trait("Category", "Integration")]
    public async Task ScoreVideoPrintsTheDocumentedShape()
    {
        var clip = TestClips.TestSrc(_dir.File("a.mp4"), frames: 6);
        var bad = TestClips.Corrupt(_dir.File("bad.mp4"), clip);
        Directory.CreateDirectory(_dir.File("model"));
        var (code, stdout, stderr) = await CliHarness.RunAsync(_ => new FakeScorer(), "score", "--model", _dir.File("model"), "--prompt", Prompt, "--video", clip, bad, "--stride", "2", "--json");
        Assert.True(code == 1, stderr); // the corrupt clip fails
        var doc = JsonNode.Parse(stdout)!;
        AssertShape(
            "$: object\n" + Model + "\n" + """
            results: array
            results[]: object
            results[].aggregate: string
            results[].error: string
            results[].frames: array
            results[].frames[]: object
            results[].frames[].index: number
            results[].frames[].log_sigma: number
            results[].frames[].mu: number
            results[].frames[].time: number
            results[].mu: number
            results[].prompt: string
            results[].video: string
            """, doc);
        AssertShape("$: object\nerror: string\nframes: array\nprompt: string\nvideo: string", doc["results"]![1]);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void ClusterResultLinesHaveTheDocumentedShape()
    {
        static JsonNode? Line(double? mu, double? logSigma, string? error) =>
            JsonNode.Parse(ResultsFile.Line(new FinishedItem(1, 3, Prompt, "a.png", mu, logSigma, "w1", error)));
        var ok = Line(0.5, -1, null);
        AssertShape("$: object\nimage: string\nindex: number\nlog_sigma: number\nmu: number\nprompt: string\nsigma: number\nworker: string", ok);
        var failed = "$: object\nerror: string\nimage: string\nindex: number\nprompt: string\nworker: string";
        AssertShape(failed, Line(null, null, "image not found"));
        AssertShape(failed, Line(double.NaN, 0, null)); // a non-finite score is an error, never a number
        Assert.Contains(Prompt, Encoding.UTF8.GetString(ResultsFile.Line(new FinishedItem(1, 3, Prompt, "a.png", 0.5, -1, "w1", null))), StringComparison.Ordinal);
    }

    private const string ItemResult =
        """
        results: array
        results[]: object
        results[].group_z: number
        results[].log_sigma: number
        results[].mu: number
        results[].score: number
        results[].scorer: string
        results[].sigma: number
        """;

    [Fact]
    public async Task ServiceAnswersTheDocumentedShapes()
    {
        var images = Images();
        string B64(int i) => Convert.ToBase64String(File.ReadAllBytes(images[i]));
        await using var svc = await ServeProcess.StartAsync(["--scorers", "hpsv3,pickscore", "--model", TestPaths.TinyModelDir(_dir), "--dtype", "fp32", "--model-for", $"pickscore={ServeScorersTests.PickScoreDir(_dir)}"]);

        var hosted = """
            model.hosted: array
            model.hosted[]: object
            model.hosted[].dtype: string
            model.hosted[].fingerprint: string
            model.hosted[].max_pixels: number
            model.hosted[].min_pixels: number
            model.hosted[].name: string
            model.hosted[].released_hpsv3: false
            model.hosted[].scorer: string
            """;

        // /v1/score: a bad item is {error, status} beside the scored ones, still 200.
        var (status, body) = await svc.PostAsync("/v1/score", new { items = new object[] { new { prompt = Prompt, image = B64(0) }, new { prompt = Prompt, image = B64(1) }, new { prompt = Prompt, image = B64(2) } }, normalize = "group" });
        Assert.Equal(200, status);
        AssertShape("$: object\n" + Model + "\n" + ItemResult.Replace("results[]: object", "results[]: object\nresults[].error: string\nresults[].status: number", StringComparison.Ordinal), body);
        AssertShape("$: object\nerror: string\nstatus: number", body!["results"]![2]);

        // "rewards": one entry per scorer and the weighted reward.
        (status, body) = await svc.PostAsync("/v1/score", new { items = new object[] { new { prompt = Prompt, image = B64(0) } }, rewards = new Dictionary<string, double> { ["hpsv3"] = 1.0, ["pickscore"] = 0.5 } });
        Assert.Equal(200, status);
        AssertShape(
            "$: object\n" + Model + "\n" + hosted + "\n" + """
            results: array
            results[]: object
            results[].log_sigma: number
            results[].mu: number
            results[].reward: number
            results[].score: number
            results[].scorer: string
            results[].scorers: object
            results[].scorers.hpsv3: object
            results[].scorers.hpsv3.log_sigma: number
            results[].scorers.hpsv3.mu: number
            results[].scorers.hpsv3.score: number
            results[].scorers.hpsv3.sigma: number
            results[].scorers.hpsv3.weight: number
            results[].scorers.pickscore: object
            results[].scorers.pickscore.score: number
            results[].scorers.pickscore.weight: number
            results[].sigma: number
            """, body);

        (status, body) = await svc.PostAsync("/v1/compare", new { prompt = Prompt, a = B64(0), b = B64(1) });
        Assert.Equal(200, status);
        var side = """
            X: object
            X.log_sigma: number
            X.mu: number
            X.score: number
            X.scorer: string
            X.sigma: number
            """;
        AssertShape("$: object\n" + side.Replace("X", "a", StringComparison.Ordinal) + "\n" + side.Replace("X", "b", StringComparison.Ordinal) + "\n" + Model + "\np_a_over_b: number\npreferred: string", body);

        (status, body) = await svc.PostAsync("/v1/rank", new { prompt = Prompt, images = new[] { B64(0), B64(1) } });
        Assert.Equal(200, status);
        AssertShape("$: object\n" + Model + "\norder: array\norder[]: number\n" + ItemResult.Replace("results[].group_z: number\n", string.Empty, StringComparison.Ordinal), body);

        // Errors are RFC 9457 problem details.
        (status, body) = await svc.PostAsync("/v1/compare", new { prompt = Prompt, a = B64(0) });
        Assert.Equal(400, status);
        AssertShape("$: object\ndetail: string\nstatus: number\ntitle: string\ntrace_id: string\ntype: string", body);

        foreach (var probe in new[] { "/healthz", "/readyz" })
        {
            (status, body) = await svc.GetAsync(probe);
            Assert.Equal(200, status);
            AssertShape("$: object\n" + Model + "\nqueue_capacity: number\nqueue_depth: number\nstatus: string", body);
        }
    }

    /// <summary>Asserts the shape of <paramref name="node"/>; the message shows the actual shape to compare by eye.</summary>
    internal static void AssertShape(string expected, JsonNode? node)
    {
        static IEnumerable<string> Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var want = Lines(expected).Order(StringComparer.Ordinal).ToArray();
        var got = Shape(node);
        Assert.True(want.SequenceEqual(got), $"expected:\n{string.Join('\n', want)}\n\nactual:\n{string.Join('\n', got)}");
    }

    /// <summary>Every path with the JSON types seen there, sorted (booleans that are always false print as <c>false</c>).</summary>
    internal static IReadOnlyList<string> Shape(JsonNode? node)
    {
        var paths = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        Walk(node, string.Empty, paths);
        return [.. paths.Select(kv => $"{(kv.Key.Length == 0 ? "$" : kv.Key)}: {string.Join('|', kv.Value)}").Order(StringComparer.Ordinal)];
    }

    private static void Walk(JsonNode? node, string path, SortedDictionary<string, SortedSet<string>> paths)
    {
        if (!paths.TryGetValue(path, out var types))
        {
            paths[path] = types = new SortedSet<string>(StringComparer.Ordinal);
        }

        switch (node)
        {
            case null:
                types.Add("null");
                break;
            case JsonObject o:
                types.Add("object");
                foreach (var (key, value) in o)
                {
                    Walk(value, path.Length == 0 ? key : path + "." + key, paths);
                }

                break;
            case JsonArray a:
                types.Add("array");
                foreach (var e in a)
                {
                    Walk(e, (path.Length == 0 ? "$" : path) + "[]", paths);
                }

                break;
            default:
                types.Add(node.GetValueKind() switch
                {
                    JsonValueKind.String => "string",
                    JsonValueKind.Number => "number",

                    // The tiny models are never the released HPSv3: pin that they say so.
                    JsonValueKind.False when path.EndsWith("released_hpsv3", StringComparison.Ordinal) => "false",
                    JsonValueKind.True or JsonValueKind.False => "bool",
                    var k => k.ToString(),
                });
                break;
        }
    }
}
