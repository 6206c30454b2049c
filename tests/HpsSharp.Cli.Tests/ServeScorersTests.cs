using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>
/// <c>hps serve --scorer</c> and <c>--scorers</c> with the tiny HPSv3 model and the tiny PickScore golden checkpoint:
/// each scorer's numbers equal its goldens (PickScore) or its one-scorer answer (HPSv3), and <c>"rewards"</c> is the
/// weighted sum of raw scores, or of percentiles with calibrations.
/// </summary>
[Trait("Category", "Model")]
public sealed partial class ServeScorersTests
{
    private static string Golden(string scorer) => TestPaths.Fixture("scorers/" + scorer);

    internal static string PickScoreDir(TempDir dir)
    {
        var model = dir.File("pickscore");
        Directory.CreateDirectory(model);
        foreach (var f in new[] { "config.json", "model.safetensors", "preprocessor_config.json" })
        {
            File.CreateSymbolicLink(Path.Combine(model, f), Path.Combine(Golden("pickscore"), f));
        }

        File.CreateSymbolicLink(Path.Combine(model, "bpe_simple_vocab_16e6.txt.gz"), Path.Combine(TestPaths.Asset("clip-tokenizer"), "bpe_simple_vocab_16e6.txt.gz"));
        return model;
    }

    /// <summary>The PickScore "batch" golden: prompts, image files and scores, pair by pair.</summary>
    internal static (string[] Prompts, string[] Images, double[] Scores) Batch()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Golden("pickscore"), "cases.json")));
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("id").GetString() == "batch");
        return (
            [.. c.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!)],
            [.. c.GetProperty("images").EnumerateArray().Select(i => Path.GetFullPath(Path.Combine(Golden("pickscore"), i.GetProperty("image").GetString()!)))],
            [.. c.GetProperty("expected").GetProperty("scores").EnumerateArray().Select(e => e.GetDouble())]);
    }

    private static object[] Items((string[] Prompts, string[] Images, double[] Scores) b) =>
        [.. b.Prompts.Select((p, i) => (object)new { prompt = p, image = Convert.ToBase64String(File.ReadAllBytes(b.Images[i])) })];

    private static Calibration Calib(string name, params double[] sorted) => new()
    {
        Model = name, Fingerprint = "test", Reference = "test", ReferenceSha256 = "0", Count = sorted.Length, MuSorted = sorted,
    };

    [Fact]
    public async Task SeveralScorersAnswerEachEntryAndTheWeightedMix()
    {
        using var dir = new TempDir();
        var b = Batch();
        await using var svc = await ServeProcess.StartAsync(["--scorers", "hpsv3,pickscore", "--model", TestPaths.TinyModelDir(dir), "--dtype", "fp32", "--model-for", $"pickscore={PickScoreDir(dir)}"]);

        var single = await svc.PostAsync("/v1/score", new { items = Items(b) });
        Assert.Equal(200, single.Status);
        var hpsMu = single.Body!["results"]!.AsArray().Select(r => (double)r!["mu"]!).ToArray();
        Assert.All(single.Body!["results"]!.AsArray(), r => Assert.Equal("hpsv3", (string?)r!["scorer"]));
        Assert.Equal("hpsv3", (string?)single.Body!["model"]!["scorer"]);

        var listed = await svc.PostAsync("/v1/score", new { items = Items(b), scorers = new[] { "pickscore", "hpsv3" } });
        Assert.Equal(200, listed.Status);
        var hosted = listed.Body!["model"]!["hosted"]!.AsArray().Select(m => (string)m!["scorer"]!).ToArray();
        Assert.Equal(["hpsv3", "pickscore"], hosted);
        var results = listed.Body!["results"]!.AsArray();
        for (int i = 0; i < b.Scores.Length; i++)
        {
            var r = results[i]!;
            Assert.Equal("pickscore", (string?)r["scorer"]);
            Assert.Equal(b.Scores[i], (double)r["score"]!, 1e-4);
            Assert.Null(r["mu"]);
            Assert.Null(r["reward"]);
            Assert.Equal(b.Scores[i], (double)r["scorers"]!["pickscore"]!["score"]!, 1e-4);
            Assert.Equal(hpsMu[i], (double)r["scorers"]!["hpsv3"]!["mu"]!, 1e-9);
            Assert.Equal(hpsMu[i], (double)r["scorers"]!["hpsv3"]!["score"]!, 1e-9);
            Assert.NotNull(r["scorers"]!["hpsv3"]!["sigma"]);
        }

        var mixed = await svc.PostAsync("/v1/score", new { items = Items(b), rewards = new Dictionary<string, double> { ["hpsv3"] = 1.0, ["pickscore"] = 0.5 } });
        Assert.Equal(200, mixed.Status);
        results = mixed.Body!["results"]!.AsArray();
        for (int i = 0; i < b.Scores.Length; i++)
        {
            var r = results[i]!;
            Assert.Equal("hpsv3", (string?)r["scorer"]);
            Assert.Equal(hpsMu[i] + (0.5 * b.Scores[i]), (double)r["reward"]!, 1e-4);
            Assert.Equal(0.5, (double)r["scorers"]!["pickscore"]!["weight"]!);
        }

        var unknown = await svc.PostAsync("/v1/score", new { items = Items(b), scorers = new[] { "imagereward" } });
        Assert.Equal(400, unknown.Status);
        Assert.Contains("it has no scorer 'imagereward' (start it with --scorers ... --model-for imagereward=DIR)", (string?)unknown.Body!["detail"], StringComparison.Ordinal);
        var noCalib = await svc.PostAsync("/v1/score", new { items = Items(b), reward = "percentile", rewards = new Dictionary<string, double> { ["pickscore"] = 1 } });
        Assert.Equal(400, noCalib.Status);
        Assert.Contains("(start the service with --calibration-for pickscore=calib.json)", (string?)noCalib.Body!["detail"], StringComparison.Ordinal);
        var both = await svc.PostAsync("/v1/score", new { items = Items(b), scorers = new[] { "hpsv3" }, rewards = new Dictionary<string, double> { ["hpsv3"] = 1 } });
        Assert.Equal(400, both.Status);
    }

    [Fact]
    public async Task WithCalibrationsTheMixSumsPercentilesUnlessTheRequestAsksForScores()
    {
        using var dir = new TempDir();
        var b = Batch();
        var hpsCal = Calib("hpsv3", -10, -1, -0.5, 0, 0.5, 1, 10);
        var pickCal = Calib("pickscore", 1.5, 2.0, 2.5, 3.0, 3.5);
        hpsCal.Save(dir.File("hps.json"));
        pickCal.Save(dir.File("pick.json"));
        await using var svc = await ServeProcess.StartAsync(["--scorers", "hpsv3,pickscore", "--model", TestPaths.TinyModelDir(dir), "--dtype", "fp32", "--model-for", $"pickscore={PickScoreDir(dir)}",
            "--calibration", dir.File("hps.json"), "--calibration-for", $"pickscore={dir.File("pick.json")}"]);
        var weights = new Dictionary<string, double> { ["hpsv3"] = 0.25, ["pickscore"] = 0.75 };
        var pct = await svc.PostAsync("/v1/score", new { items = Items(b), rewards = weights });
        var raw = await svc.PostAsync("/v1/score", new { items = Items(b), rewards = weights, reward = "score" });
        Assert.Equal(200, pct.Status);
        Assert.Equal(200, raw.Status);
        for (int i = 0; i < b.Scores.Length; i++)
        {
            var r = pct.Body!["results"]![i]!;
            double mu = (double)r["scorers"]!["hpsv3"]!["score"]!;
            double pick = (double)r["scorers"]!["pickscore"]!["score"]!;
            Assert.Equal(pickCal.Percentile(b.Scores[i]), (double)r["scorers"]!["pickscore"]!["percentile"]!, 1e-2);
            Assert.Equal((0.25 * hpsCal.Percentile(mu)) + (0.75 * pickCal.Percentile(pick)), (double)r["reward"]!, 1e-9);
            Assert.Equal((0.25 * mu) + (0.75 * pick), (double)raw.Body!["results"]![i]!["reward"]!, 1e-9);
        }
    }

    [Fact]
    public async Task OneBaselineScorerServesScoreAndScorerWithoutSigma()
    {
        using var dir = new TempDir();
        var b = Batch();
        await using var svc = await ServeProcess.StartAsync(["--scorer", "pickscore", "--model", PickScoreDir(dir)]);
        var scored = await svc.PostAsync("/v1/score", new { items = Items(b) });
        Assert.Equal(200, scored.Status);
        Assert.Equal("pickscore", (string?)scored.Body!["model"]!["scorer"]);
        for (int i = 0; i < b.Scores.Length; i++)
        {
            var r = scored.Body!["results"]![i]!;
            Assert.Equal("pickscore", (string?)r["scorer"]);
            Assert.Equal(b.Scores[i], (double)r["score"]!, 1e-4);
            Assert.Null(r["mu"]);
            Assert.Null(r["log_sigma"]);
        }

        var compare = await svc.PostAsync("/v1/compare", new { prompt = b.Prompts[0], a = Convert.ToBase64String(File.ReadAllBytes(b.Images[0])), b = Convert.ToBase64String(File.ReadAllBytes(b.Images[1])) });
        Assert.Equal(200, compare.Status);
        Assert.Null(compare.Body!["p_a_over_b"]);
        Assert.Contains((string?)compare.Body!["preferred"], new[] { "a", "b", "tie" });
    }

    [Fact]
    public async Task BadScorerSettingsAreUsageErrors()
    {
        using var dir = new TempDir();
        var tiny = TestPaths.TinyModelDir(dir);
        var (code, _, err) = await CliHarness.RunAsync("serve", "--scorers", "hpsv3,pickscore", "--model", tiny, "--urls", "http://127.0.0.1:0");
        Assert.Equal(2, code);
        Assert.Contains("--model-for pickscore=DIR", err, StringComparison.Ordinal);
        (code, _, err) = await CliHarness.RunAsync("serve", "--scorers", "hpsv3,nosuch", "--model", tiny, "--urls", "http://127.0.0.1:0");
        Assert.Equal(2, code);
        Assert.Contains("unknown scorer 'nosuch'", err, StringComparison.Ordinal);
        (code, _, err) = await CliHarness.RunAsync("serve", "--scorers", "hpsv3", "--model", tiny, "--model-for", "pickscore=/x", "--urls", "http://127.0.0.1:0");
        Assert.Equal(2, code);
        Assert.Contains("--model-for: 'pickscore' is not one of the hosted scorers", err, StringComparison.Ordinal);
    }
}
