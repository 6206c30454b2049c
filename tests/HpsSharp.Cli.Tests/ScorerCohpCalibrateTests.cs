using System.Text.Json;
using System.Text.Json.Nodes;
using HpsSharp.Testing;
using HpsSharp.Testing.Generators;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary><c>--scorer</c> on <c>hps cohp</c> and <c>hps calibrate</c>, with the tiny PickScore golden checkpoint.</summary>
[Trait("Category", "Model")]
public sealed class ScorerCohpCalibrateTests
{
    [Fact]
    public async Task CalibrateWithPickScoreSortsTheGoldenScoresAndNamesTheScorer()
    {
        using var dir = new TempDir();
        var b = ServeScorersTests.Batch();
        File.WriteAllLines(dir.File("ref.jsonl"), b.Prompts.Select((p, i) => JsonSerializer.Serialize(new { prompt = p, image = b.Images[i] })));
        var (code, stdout, stderr) = await CliHarness.RunAsync("calibrate", "--scorer", "pickscore", "--model", ServeScorersTests.PickScoreDir(dir), "--reference", dir.File("ref.jsonl"), "--out", dir.File("calib.json"));
        Assert.True(code == 0, stderr);
        Assert.Contains("(pickscore)", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("σ", stdout, StringComparison.Ordinal);
        var calib = JsonNode.Parse(File.ReadAllText(dir.File("calib.json")))!;
        Assert.Equal("pickscore", (string?)calib["scorer"]);
        Assert.Null(calib["mean_sigma"]);
        var sorted = calib["mu_sorted"]!.AsArray().Select(v => (double)v!).ToArray();
        var expected = b.Scores.Order().ToArray();
        Assert.Equal(expected.Length, sorted.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], sorted[i], 1e-4);
        }

        // The file loads back for score/serve --calibration.
        Assert.Equal("pickscore", HpsSharp.Core.Scoring.Calibration.Load(dir.File("calib.json")).Scorer);
    }

    [Fact]
    public async Task CohpWithPickScoreJudgesByItsScoresAndRecordsNoSigma()
    {
        using var a1111 = new FakeA1111Server();
        using var dir = new TempDir();
        File.WriteAllText(dir.File("generators.json"), $$"""
            [{"name": "sdxl", "kind": "a1111", "url": "{{a1111.Url}}", "width": 48, "height": 48, "steps": 20, "retry_delay_s": 0.01}]
            """);
        var model = ServeScorersTests.PickScoreDir(dir);
        const string prompt = "a red bicycle in the snow";
        var (code, _, stderr) = await CliHarness.RunAsync("cohp", "--scorer", "pickscore", "--prompt", prompt, "--generators", dir.File("generators.json"),
            "--model", model, "--out", dir.File("run"), "--seed", "3", "--rounds", "1", "--candidates", "2", "--images-per-generator", "2");
        Assert.True(code == 0, stderr);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "run.json")))!;
        Assert.Equal("pickscore", (string?)run["model"]!["scorer"]);
        var images = run["model_stage"]![0]!["images"]!.AsArray();
        Assert.Equal(2, images.Count);

        // Each recorded score is PickScore's for that image, as hps score gives it; no σ is recorded.
        var files = images.Select(i => Path.Combine(dir.File("run"), (string)i!["file"]!)).ToArray();
        var (scode, sout, serr) = await CliHarness.RunAsync(["score", "--scorer", "pickscore", "--model", model, "--prompt", prompt, "--json", .. files]);
        Assert.True(scode == 0, serr);
        var offline = JsonNode.Parse(sout)!["results"]!.AsArray().Select(r => (double)r!["score"]!).ToArray();
        for (int i = 0; i < images.Count; i++)
        {
            Assert.Equal(offline[i], (double)images[i]!["mu"]!, 1e-6);
            Assert.Null(images[i]!["sigma"]);
            Assert.Null(images[i]!["log_sigma"]);
        }

        Assert.Contains("scorer: pickscore", File.ReadAllText(Path.Combine(dir.File("run"), "index.html")), StringComparison.Ordinal);
    }
}
