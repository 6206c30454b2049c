using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary><c>hps calibrate</c>, <c>--calibration</c> and <c>hps score --video</c> with a fake scorer.</summary>
[Trait("Category", "Integration")]
public sealed class RlCommandTests
{
    private static readonly Func<ScorerOptions, IScorer> Fake = _ => new FakeScorer();

    private static string ModelDir(TempDir dir)
    {
        var m = Path.Combine(dir.Path, "model");
        Directory.CreateDirectory(m);
        return m;
    }

    [Fact]
    public async Task CalibrateThenScoreWithPercentile()
    {
        using var dir = TestPaths.TempDir();
        var images = new[] { "chelsea.png", "coins.png", "rocket.jpg" };
        foreach (var i in images)
        {
            File.Copy(TestPaths.Image(i), dir.File(i));
        }

        File.WriteAllLines(dir.File("ref.jsonl"), images.Select(i => $"{{\"prompt\":\"ref {i}\",\"image\":\"{i}\"}}"));
        var (code, stdout, stderr) = await CliHarness.RunAsync(Fake, "calibrate", "--model", ModelDir(dir), "--reference", dir.File("ref.jsonl"), "--out", dir.File("calib.json"));
        Assert.True(code == 0, stderr);
        Assert.Contains("calibrated on 3 reference images", stdout, StringComparison.Ordinal);
        var calib = Calibration.Load(dir.File("calib.json"));
        var refMus = images.Select(i => FakeScorer.HashScore(new ScoreRequest($"ref {i}", ImageInput.FromPath(dir.File(i)))).Mu).Order().ToArray();
        Assert.Equal(refMus, calib.MuSorted);

        var (code2, out2, err2) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--prompt", "a cat", "--json", "--calibration", dir.File("calib.json"), dir.File("chelsea.png"));
        Assert.True(code2 == 0, err2);
        using var doc = JsonDocument.Parse(out2);
        var r = doc.RootElement.GetProperty("results")[0];
        Assert.Equal(calib.Percentile(r.GetProperty("mu").GetDouble()), r.GetProperty("percentile").GetDouble(), 12);

        var (code3, _, err3) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--prompt", "a cat", "--calibration", dir.File("nope.json"), dir.File("chelsea.png"));
        Assert.Equal(1, code3);
        Assert.Contains("calibration file not found", err3, StringComparison.Ordinal);
    }

    [FfmpegFact]
    public async Task ScoreVideoJsonHasFramesAndTheAggregate()
    {
        using var dir = TestPaths.TempDir();
        var a = TestClips.TestSrc(dir.File("a.mp4"), frames: 10);
        var bad = TestClips.Corrupt(dir.File("bad.mp4"), a);
        var (code, stdout, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--prompt", "a pattern", "--video", a, bad, "--stride", "3", "--aggregate", "top_fraction:0.5", "--json");

        Assert.Equal(1, code); // one clip failed
        Assert.Contains("1 of 2 video(s)", stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        var results = doc.RootElement.GetProperty("results");
        var ok = results[0];
        Assert.Equal(a, ok.GetProperty("video").GetString());
        Assert.Equal("a pattern", ok.GetProperty("prompt").GetString());
        Assert.Equal("top_fraction:0.5", ok.GetProperty("aggregate").GetString());
        var frames = ok.GetProperty("frames").EnumerateArray().ToList();
        Assert.Equal([0, 3, 6, 9], frames.Select(f => f.GetProperty("index").GetInt32()));
        Assert.Equal(0.375, frames[1].GetProperty("time").GetDouble(), 9);
        var best = frames.Select(f => f.GetProperty("mu").GetDouble()).OrderDescending().Take(2).Average();
        Assert.Equal(best, ok.GetProperty("mu").GetDouble(), 12);
        Assert.All(frames, f => Assert.Equal(0, f.GetProperty("log_sigma").GetDouble()));
        Assert.Contains("not a decodable video", results[1].GetProperty("error").GetString(), StringComparison.Ordinal);

        var (code2, _, err2) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--prompt", "p", "--video", a, "--frames", "2", "--stride", "2");
        Assert.Equal(1, code2);
        Assert.Contains("--frames", err2, StringComparison.Ordinal);
        var (code3, _, err3) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--prompt", "p", "--video", a, "--aggregate", "median");
        Assert.Equal(1, code3);
        Assert.Contains("--aggregate", err3, StringComparison.Ordinal);
    }
}
