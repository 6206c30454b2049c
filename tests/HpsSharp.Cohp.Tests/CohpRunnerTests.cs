using System.Security.Cryptography;
using System.Text.Json.Nodes;
using HpsSharp.Cohp.Generators;
using HpsSharp.Testing;
using HpsSharp.Testing.Generators;
using Xunit;

namespace HpsSharp.Cohp.Tests;

/// <summary>
/// The CoHP loop against fake A1111 and ComfyUI servers with a scorer whose preferences are known, asserting the
/// exact selections the upstream code's algorithm makes (docs/cohp.md).
/// </summary>
[Trait("Category", "Integration")]
public sealed class CohpRunnerTests : IDisposable
{
    private const string Prompt = "a lighthouse on a cliff at dusk";

    private readonly FakeA1111Server _alphaServer = new();
    private readonly FakeA1111Server _betaServer = new();
    private readonly FakeComfyUiServer _gammaServer = new();
    private readonly TempDir _dir = TestPaths.TempDir("hps-cohp-");

    /// <summary>
    /// Model stage: alpha [1, 5] mean 3 (holds the single best image), beta [3.5, 4.5] mean 4 (wins), gamma [2, 2].
    /// Rounds (bar starts at 0, the start image's 4.5 is not compared):
    ///   r1 [2, 1, 0.5, −1]  best 2 > 0        → kept c1 (although 2 &lt; start 4.5)
    ///   r2 [1.5, −2, 0, 1]  best 1.5 ≤ 2      → nothing kept, source stays r1/c1
    ///   r3 [3, 6, 1, 0]     best 6 > 2        → kept c2
    ///   r4 [6, 5, 6, 0]     best 6 (c1, tie)  → 6 is not > 6: nothing kept; final r3/c2.
    /// </summary>
    private static readonly Dictionary<string, double> Scores = new()
    {
        ["model/alpha-1.png"] = 1, ["model/alpha-2.png"] = 5,
        ["model/beta-1.png"] = 3.5, ["model/beta-2.png"] = 4.5,
        ["model/gamma-1.png"] = 2, ["model/gamma-2.png"] = 2,
        ["round-1/candidate-1.png"] = 2, ["round-1/candidate-2.png"] = 1, ["round-1/candidate-3.png"] = 0.5, ["round-1/candidate-4.png"] = -1,
        ["round-2/candidate-1.png"] = 1.5, ["round-2/candidate-2.png"] = -2, ["round-2/candidate-3.png"] = 0, ["round-2/candidate-4.png"] = 1,
        ["round-3/candidate-1.png"] = 3, ["round-3/candidate-2.png"] = 6, ["round-3/candidate-3.png"] = 1, ["round-3/candidate-4.png"] = 0,
        ["round-4/candidate-1.png"] = 6, ["round-4/candidate-2.png"] = 5, ["round-4/candidate-3.png"] = 6, ["round-4/candidate-4.png"] = 0,
    };

    public void Dispose()
    {
        _alphaServer.Dispose();
        _betaServer.Dispose();
        _gammaServer.Dispose();
        _dir.Dispose();
    }

    private List<IImageGenerator> Generators() =>
    [
        GeneratorFactory.Create(TestSupport.A1111("alpha", _alphaServer.Url)),
        GeneratorFactory.Create(TestSupport.A1111("beta", _betaServer.Url)),
        GeneratorFactory.Create(TestSupport.Comfy("gamma", _gammaServer.Url)),
    ];

    private async Task<CohpRun> RunAsync(string folder, CohpOptions? options = null, Dictionary<string, double>? scores = null, IProgress<CohpProgress>? progress = null, CancellationToken ct = default)
    {
        var gens = Generators();
        try
        {
            using var scorer = TestSupport.TableScorer(folder, scores ?? Scores);
            return await new CohpRunner(scorer, gens).RunAsync(Prompt, folder, options ?? new CohpOptions { Seed = 7 }, progress, ct);
        }
        finally
        {
            gens.ForEach(g => g.Dispose());
        }
    }

    private static string Sha(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public async Task DefaultSelectionFollowsTheUpstreamCode()
    {
        var folder = _dir.File("run");
        var run = await RunAsync(folder);

        // Stage one: every generator made 2 images with its own derived seeds; beta has the best mean.
        Assert.Equal(["alpha", "beta", "gamma"], run.ModelStage.Select(e => e.Generator));
        Assert.Equal([3.0, 4.0, 2.0], run.ModelStage.Select(e => e.MeanMu!.Value));
        Assert.Equal("beta", run.ChosenGenerator);
        Assert.Equal("model/beta-2.png", run.Start!.File);
        Assert.Equal(4.5, run.Start.Mu);
        foreach (var (server, name) in new (FakeGeneratorServer, string)[] { (_alphaServer, "alpha"), (_gammaServer, "gamma") })
        {
            Assert.Equal([CohpRunner.DeriveSeed(7, "model", name, 0, 1), CohpRunner.DeriveSeed(7, "model", name, 0, 2)], server.Requests.Select(r => r.Seed));
            Assert.All(server.Requests, r => Assert.Equal("txt2img", r.Operation));
        }

        // Stage two: 4 rounds × 4 candidates, all on beta's server, with the code's strengths.
        Assert.Equal(2 + 16, _betaServer.Requests.Count);
        var img2img = _betaServer.Requests.Where(r => r.Operation == "img2img").ToList();
        Assert.Equal(Enumerable.Repeat(0.8, 12).Concat(Enumerable.Repeat(0.5, 4)), img2img.Select(r => r.Strength!.Value));
        Assert.Equal([0.8, 0.8, 0.8, 0.5], run.Rounds.Select(r => r.Strength));
        Assert.Equal([1, 2, 3, 4], run.Rounds.Select(r => r.Round));
        Assert.All(run.Rounds, r => Assert.Equal(4, r.Candidates.Count));
        Assert.Equal(
            Enumerable.Range(1, 4).SelectMany(r => Enumerable.Range(1, 4).Select(k => CohpRunner.DeriveSeed(7, "sample", string.Empty, r, k))),
            img2img.Select(r => r.Seed));

        // Selections.
        Assert.Equal(["round-1/candidate-1.png", null, "round-3/candidate-2.png", null], run.Rounds.Select(r => r.Kept));
        Assert.Equal(["model/beta-2.png", "round-1/candidate-1.png", "round-1/candidate-1.png", "round-3/candidate-2.png"], run.Rounds.Select(r => r.Source));
        Assert.Equal([0.0, 2.0, 2.0, 6.0], run.Rounds.Select(r => r.Bar));
        Assert.Equal("round-4/candidate-1.png", run.Rounds[3].Best); // ties go to the first candidate
        Assert.Equal("round-3/candidate-2.png", run.Final!.File);
        Assert.Equal(6, run.Final.Mu);
        Assert.Equal("complete", run.Status);

        // Each round's init image is exactly the source file's bytes.
        for (int r = 0; r < 4; r++)
        {
            var source = File.ReadAllBytes(Path.Combine(folder, run.Rounds[r].Source));
            Assert.All(img2img.Skip(r * 4).Take(4), req => Assert.Equal(source, req.InitImage));
        }

        // Every image is on disk, as the server made it, with its seed, backend, stage, round, μ and σ.
        foreach (var img in run.ModelStage.SelectMany(e => e.Images).Concat(run.Rounds.SelectMany(r => r.Candidates)))
        {
            Assert.Equal(Sha(Path.Combine(folder, img.File)), img.Sha256);
            Assert.Equal(Scores[img.File], img.Mu);
            Assert.Equal(-1, img.LogSigma);
            Assert.Equal(Math.Exp(-1), img.Sigma!.Value, 12);
        }

        Assert.Equal(FakeImages.TextToImage(Prompt, CohpRunner.DeriveSeed(7, "model", "beta", 0, 2), 32, 32), File.ReadAllBytes(Path.Combine(folder, "model/beta-2.png")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "round-3/candidate-2.png")), File.ReadAllBytes(Path.Combine(folder, "final.png")));
        Assert.Equal((6 + 16, 0), (run.Counts.Generated, run.Counts.Reused));
    }

    [Fact]
    public async Task RunJsonHasTheDocumentedShape()
    {
        var folder = _dir.File("run");
        await RunAsync(folder);
        var doc = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "run.json")))!;
        Assert.Equal(Prompt, doc["prompt"]!.GetValue<string>());
        var stage = doc["model_stage"]!.AsArray();
        Assert.Equal(3, stage.Count);
        Assert.Equal("beta", stage[1]!["generator"]!.GetValue<string>());
        Assert.Equal(4.0, stage[1]!["mean_mu"]!.GetValue<double>());
        var image = stage[1]!["images"]![1]!;
        Assert.Equal("model/beta-2.png", image["file"]!.GetValue<string>());
        Assert.Equal(CohpRunner.DeriveSeed(7, "model", "beta", 0, 2), image["seed"]!.GetValue<long>());
        Assert.Equal(4.5, image["mu"]!.GetValue<double>());
        Assert.Equal(-1.0, image["log_sigma"]!.GetValue<double>());
        Assert.Equal("beta", doc["chosen_generator"]!.GetValue<string>());
        Assert.Equal("model/beta-2.png", doc["start"]!["file"]!.GetValue<string>());
        Assert.Equal(4.5, doc["start"]!["mu"]!.GetValue<double>());
        var round2 = doc["rounds"]![1]!.AsObject();
        Assert.Equal(0.8, round2["strength"]!.GetValue<double>());
        Assert.Equal("round-1/candidate-1.png", round2["source"]!.GetValue<string>());
        Assert.True(round2.ContainsKey("kept"));
        Assert.Null(round2["kept"]);
        Assert.Equal(4, round2["candidates"]!.AsArray().Count);
        Assert.Equal("round-3/candidate-2.png", doc["rounds"]![2]!["kept"]!.GetValue<string>());
        Assert.Equal("round-3/candidate-2.png", doc["final"]!["file"]!.GetValue<string>());
        Assert.Equal(6.0, doc["final"]!["mu"]!.GetValue<double>());
    }

    [Fact]
    public async Task WhenTheStartCompetesAWorseRoundIsNotAdopted()
    {
        var run = await RunAsync(_dir.File("run"), new CohpOptions { Seed = 7, StartCompetes = true });
        Assert.Equal([4.5, 4.5, 4.5, 6.0], run.Rounds.Select(r => r.Bar));
        Assert.Equal([null, null, "round-3/candidate-2.png", null], run.Rounds.Select(r => r.Kept));
        Assert.Equal(["model/beta-2.png", "model/beta-2.png", "model/beta-2.png", "round-3/candidate-2.png"], run.Rounds.Select(r => r.Source));
        Assert.Equal("round-3/candidate-2.png", run.Final!.File);
    }

    [Fact]
    public async Task AHighThresholdKeepsTheStartImage()
    {
        var run = await RunAsync(_dir.File("run"), new CohpOptions { Seed = 7, Threshold = 10 });
        Assert.All(run.Rounds, r => Assert.Null(r.Kept));
        Assert.All(run.Rounds, r => Assert.Equal("model/beta-2.png", r.Source));
        Assert.Equal("model/beta-2.png", run.Final!.File);
        Assert.Equal(4.5, run.Final.Mu);
    }

    [Fact]
    public async Task EarlyStopEndsAfterTheFirstRoundWithoutGain()
    {
        var run = await RunAsync(_dir.File("run"), new CohpOptions { Seed = 7, EarlyStop = true });
        Assert.Equal(2, run.Rounds.Count);
        Assert.Equal("early_stop", run.Stopped);
        Assert.Equal("round-1/candidate-1.png", run.Final!.File);
        Assert.Equal(2 + 8, _betaServer.Requests.Count);
        Assert.Equal("complete", run.Status);
    }

    [Fact]
    public async Task EveryNumberIsAnOption()
    {
        var scores = new Dictionary<string, double>(Scores)
        {
            ["model/alpha-3.png"] = 9, ["model/gamma-3.png"] = 0,
            ["round-1/candidate-5.png"] = 0, ["round-2/candidate-5.png"] = 0, ["round-3/candidate-5.png"] = 0,
        };
        var run = await RunAsync(_dir.File("run"), new CohpOptions { Seed = 3, ImagesPerGenerator = 3, Rounds = 3, CandidatesPerRound = 5, Strengths = [0.9, 0.3], Generators = ["gamma", "alpha"] }, scores);
        Assert.Empty(_betaServer.Requests);
        Assert.Equal(["gamma", "alpha"], run.ModelStage.Select(e => e.Generator));
        Assert.Equal("alpha", run.ChosenGenerator); // (1 + 5 + 9) / 3 = 5 vs 4 / 3
        Assert.Equal("model/alpha-3.png", run.Start!.File);
        Assert.Equal([0.9, 0.3, 0.3], run.Rounds.Select(r => r.Strength));
        Assert.Equal([0.9, 0.3, 0.3], run.Settings.Strengths);
        Assert.Equal(Enumerable.Repeat(0.9, 5).Concat(Enumerable.Repeat(0.3, 10)), _alphaServer.Requests.Where(r => r.Operation == "img2img").Select(r => r.Strength!.Value));
        Assert.All(run.Rounds, r => Assert.Equal(5, r.Candidates.Count));
    }

    [Fact]
    public async Task ComfyUiCanBeTheChosenGenerator()
    {
        var scores = new Dictionary<string, double>(Scores) { ["model/gamma-1.png"] = 8, ["model/gamma-2.png"] = 9 };
        var run = await RunAsync(_dir.File("run"), new CohpOptions { Seed = 7, Rounds = 2, CandidatesPerRound = 2 }, scores);
        Assert.Equal("gamma", run.ChosenGenerator);
        var img2img = _gammaServer.Requests.Where(r => r.Operation == "img2img").ToList();
        Assert.Equal([0.8, 0.8, 0.8, 0.8], img2img.Select(r => r.Strength!.Value));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir.File("run"), "model/gamma-2.png")), img2img[0].InitImage);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir.File("run"), "round-1/candidate-1.png")), img2img[2].InitImage);
        Assert.Equal("round-1/candidate-1.png", run.Final!.File);
    }

    [Fact]
    public async Task SeedsMakeRunsReproducible()
    {
        var a = await RunAsync(_dir.File("a"));
        var b = await RunAsync(_dir.File("b"));
        var c = await RunAsync(_dir.File("c"), new CohpOptions { Seed = 8 });
        var filesA = a.Rounds.SelectMany(r => r.Candidates).Select(i => Sha(Path.Combine(_dir.File("a"), i.File)));
        var filesB = b.Rounds.SelectMany(r => r.Candidates).Select(i => Sha(Path.Combine(_dir.File("b"), i.File)));
        Assert.Equal(filesA, filesB);
        Assert.NotEqual(a.ModelStage[0].Images[0].Seed, c.ModelStage[0].Images[0].Seed);
        Assert.NotEqual(Sha(Path.Combine(_dir.File("a"), "model/alpha-1.png")), Sha(Path.Combine(_dir.File("c"), "model/alpha-1.png")));
    }

    [Fact]
    public async Task AFailingGeneratorIsReportedAndSkippedInStageOne()
    {
        _betaServer.Faults = _ => new FakeFault(503, Message: "model not loaded");
        var run = await RunAsync(_dir.File("run"));
        var beta = run.ModelStage[1];
        Assert.NotNull(beta.Error);
        Assert.Contains("generator 'beta'", beta.Error, StringComparison.Ordinal);
        Assert.Contains("model not loaded", beta.Error, StringComparison.Ordinal);
        Assert.Null(beta.MeanMu);
        Assert.Equal("alpha", run.ChosenGenerator); // 3 vs 2 once beta is out
        Assert.Equal("model/alpha-2.png", run.Start!.File);
        Assert.Equal(2, _betaServer.Requests.Count); // first image: one try and one retry
        Assert.Equal("complete", run.Status);
        var html = File.ReadAllText(Path.Combine(_dir.File("run"), "index.html"));
        Assert.Contains("gen failed", html, StringComparison.Ordinal);
        Assert.Contains("model not loaded", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WhenEveryGeneratorFailsTheRunFailsNamingEachError()
    {
        _alphaServer.Faults = _ => new FakeFault(500, Message: "alpha down");
        _betaServer.Faults = _ => new FakeFault(404, Message: "no such endpoint");
        _gammaServer.Faults = _ => new FakeFault(ExecutionError: true, Message: "gamma broke");
        var folder = _dir.File("run");
        var ex = await Assert.ThrowsAsync<CohpException>(() => RunAsync(folder));
        Assert.Equal(["alpha", "beta", "gamma"], ex.GeneratorErrors.Keys.Order());
        Assert.Contains("alpha down", ex.Message, StringComparison.Ordinal);
        Assert.Contains("gamma broke", ex.Message, StringComparison.Ordinal);
        var saved = RunFolder.TryLoad(folder)!;
        Assert.Equal("failed", saved.Status);
        Assert.All(saved.ModelStage, e => Assert.NotNull(e.Error));
    }

    [Fact]
    public async Task AFailureInStageTwoKeepsTheBestSoFarAndRerunningContinues()
    {
        var folder = _dir.File("run");
        // The 3rd round's 2nd candidate fails (every try): img2img request numbers 11 (first try) and 12 (retry).
        _betaServer.Faults = r => r.Operation == "img2img" && r.Number is 2 + 8 + 2 or 2 + 8 + 3 ? new FakeFault(500, Message: "worker crashed") : null;
        var partial = await RunAsync(folder);
        Assert.Equal("partial", partial.Status);
        Assert.Equal("generator_error", partial.Stopped);
        Assert.Equal(3, partial.Rounds.Count);
        Assert.Contains("worker crashed", partial.Rounds[2].Error, StringComparison.Ordinal);
        Assert.Single(partial.Rounds[2].Candidates);
        Assert.Equal("round-1/candidate-1.png", partial.Final!.File); // the best so far
        Assert.Equal(2, partial.Final.Mu);
        Assert.Equal(2 + 8 + 1 + 2, _betaServer.Requests.Count);

        // Rerun with the server healthy: only the missing images are generated.
        _betaServer.Faults = null;
        int before = _betaServer.Requests.Count;
        int alphaBefore = _alphaServer.Requests.Count;
        var resumed = await RunAsync(folder);
        Assert.Equal(alphaBefore, _alphaServer.Requests.Count);
        Assert.Equal(3 + 4, _betaServer.Requests.Count - before); // round 3 candidates 2–4, round 4
        Assert.Equal((7, 6 + 9), (resumed.Counts.Generated, resumed.Counts.Reused));
        Assert.Equal("complete", resumed.Status);
        Assert.Null(resumed.Stopped);

        // Same result as an uninterrupted run.
        var clean = await RunAsync(_dir.File("clean"));
        Assert.Equal(clean.Rounds.Select(r => r.Kept), resumed.Rounds.Select(r => r.Kept));
        Assert.Equal(clean.Final!.File, resumed.Final!.File);
        Assert.Equal(Sha(Path.Combine(_dir.File("clean"), clean.Final.File)), Sha(Path.Combine(folder, resumed.Final.File)));
    }

    [Fact]
    public async Task AnInterruptedRunContinuesWithoutRegeneratingFinishedImages()
    {
        var folder = _dir.File("run");
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p.Done == 13)
            {
                cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunAsync(folder, progress: progress, ct: cts.Token));
        var interrupted = RunFolder.TryLoad(folder)!;
        Assert.Equal("running", interrupted.Status);
        int made = _alphaServer.Requests.Count + _betaServer.Requests.Count + _gammaServer.Requests.Count;
        Assert.Equal(13, made);

        var resumed = await RunAsync(folder);
        int total = _alphaServer.Requests.Count + _betaServer.Requests.Count + _gammaServer.Requests.Count;
        Assert.Equal(6 + 16, total); // every image was generated exactly once over both invocations
        Assert.Equal((9, 13), (resumed.Counts.Generated, resumed.Counts.Reused));
        Assert.Equal(["round-1/candidate-1.png", null, "round-3/candidate-2.png", null], resumed.Rounds.Select(r => r.Kept));
        Assert.Equal("round-3/candidate-2.png", resumed.Final!.File);

        // Rerunning a finished run generates nothing and scores nothing.
        var again = await RunAsync(folder);
        Assert.Equal(total, _alphaServer.Requests.Count + _betaServer.Requests.Count + _gammaServer.Requests.Count);
        Assert.Equal((0, 22, 0), (again.Counts.Generated, again.Counts.Reused, again.Counts.Scored));
    }

    [Fact]
    public async Task ChangedSettingsRegenerateOnlyWhatTheyAffect()
    {
        var folder = _dir.File("run");
        await RunAsync(folder);
        int alphaBefore = _alphaServer.Requests.Count;
        int betaBefore = _betaServer.Requests.Count;

        // A different strength schedule from round 4 on: rounds 1–3 are reused, round 4 is regenerated.
        var run = await RunAsync(folder, new CohpOptions { Seed = 7, Strengths = [0.8, 0.8, 0.8, 0.6] });
        Assert.Equal(alphaBefore, _alphaServer.Requests.Count);
        Assert.Equal(4, _betaServer.Requests.Count - betaBefore);
        Assert.All(_betaServer.Requests.Skip(betaBefore), r => Assert.Equal(0.6, r.Strength));
        Assert.Equal((4, 18), (run.Counts.Generated, run.Counts.Reused));
    }

    [Fact]
    public async Task AFolderHoldingAnotherPromptsRunIsRefused()
    {
        var folder = _dir.File("run");
        await RunAsync(folder, new CohpOptions { Seed = 7, Rounds = 0 });
        var gens = Generators();
        using var scorer = TestSupport.TableScorer(folder, Scores);
        var ex = await Assert.ThrowsAsync<CohpException>(() => new CohpRunner(scorer, gens).RunAsync("another prompt", folder, new CohpOptions()));
        Assert.Contains("another prompt", ex.Message, StringComparison.Ordinal);
        gens.ForEach(g => g.Dispose());
    }

    [Fact]
    public async Task AnUnscorableCandidateIsLeftOutOfTheChoice()
    {
        var scores = new Dictionary<string, double>(Scores);
        scores.Remove("round-1/candidate-1.png"); // the table scorer fails on it
        var run = await RunAsync(_dir.File("run"), new CohpOptions { Seed = 7, Rounds = 1 }, scores);
        Assert.Contains("no score for round-1/candidate-1.png", run.Rounds[0].Candidates[0].Error, StringComparison.Ordinal);
        Assert.Equal("round-1/candidate-2.png", run.Rounds[0].Kept);
    }

    [Fact]
    public async Task ThePageShowsTheChain()
    {
        var folder = _dir.File("run");
        await RunAsync(folder);
        var html = File.ReadAllText(Path.Combine(folder, "index.html"));
        Assert.Contains("Stage 1", html, StringComparison.Ordinal);
        Assert.Contains("class=\"gen chosen\"><h3>beta", html, StringComparison.Ordinal);
        Assert.Contains("<figure class=\"kept\"><a href=\"round-1/candidate-1.png\">", html, StringComparison.Ordinal);
        Assert.Contains("<figure class=\"kept\"><a href=\"round-3/candidate-2.png\">", html, StringComparison.Ordinal);
        Assert.Contains("<figure class=\"start\"><a href=\"model/beta-2.png\">", html, StringComparison.Ordinal);
        Assert.Contains("Round 4</b> · strength 0.5", html, StringComparison.Ordinal);
        Assert.Contains("nothing kept", html, StringComparison.Ordinal);
        Assert.Contains("NOT".ToLowerInvariant() + " the released HPSv3", html, StringComparison.Ordinal);
        Assert.DoesNotContain("start image scores higher", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePageSaysWhenTheFinalImageScoresBelowTheStart()
    {
        var folder = _dir.File("run");
        var run = await RunAsync(folder, new CohpOptions { Seed = 7, Rounds = 1 });
        Assert.Equal(("round-1/candidate-1.png", 2.0, 4.5), (run.Final!.File, run.Final.Mu, run.Start!.Mu));
        Assert.Contains("start image scores higher than the final one", File.ReadAllText(Path.Combine(folder, "index.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void OptionsAreValidated()
    {
        Assert.Equal("Rounds: is -1; must be 0 or more", Assert.Throws<Core.UserInputException>(() => new CohpOptions { Rounds = -1 }.Validate()).Message);
        Assert.Equal(nameof(CohpOptions.Strengths), Assert.Throws<Core.UserInputException>(() => new CohpOptions { Strengths = [0.8, 1.5] }.Validate()).Field);
        Assert.Equal(nameof(CohpOptions.CandidatesPerRound), Assert.Throws<Core.UserInputException>(() => new CohpOptions { CandidatesPerRound = 0 }.Validate()).Field);
        Assert.Equal(nameof(CohpOptions.ImagesPerGenerator), Assert.Throws<Core.UserInputException>(() => new CohpOptions { ImagesPerGenerator = 0 }.Validate()).Field);
        Assert.Equal([0.8, 0.8, 0.8, 0.5, 0.5, 0.5], Enumerable.Range(1, 6).Select(new CohpOptions().StrengthFor));
    }

    private sealed class SyncProgress(Action<CohpProgress> report) : IProgress<CohpProgress>
    {
        public void Report(CohpProgress value) => report(value);
    }
}
