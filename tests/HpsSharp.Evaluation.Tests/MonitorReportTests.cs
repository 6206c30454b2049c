using System.Text.Json;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Testing;
using SkiaSharp;
using Xunit;

namespace HpsSharp.Evaluation.Tests;

/// <summary>
/// <c>hps eval --report</c>'s reward-hacking monitors: the report (Markdown, HTML, JSON) shows each one, and a
/// purpose-built scored set makes each fire on its own while an ordinary set fires none.
/// </summary>
[Trait("Category", "Unit")]
public sealed class MonitorReportTests
{
    /// <summary>4 prompts × 4 images as 2 HPDv3 pairs per prompt; <paramref name="hack"/> breaks one property of the set.</summary>
    private sealed class ScoredSet : IDisposable
    {
        private readonly TempDir _dir = TestPaths.TempDir("hps-monitor-");

        public ScoredSet(string hack)
        {
            var records = new List<object>();
            for (int p = 0; p < 4; p++)
            {
                string[] names = new string[4];
                for (int i = 0; i < 4; i++)
                {
                    int k = (p * 4) + i; // the order in which the dataset first names the image
                    names[i] = $"images/p{p}_{i}.png";
                    bool vivid = hack == "saturated_share";
                    Directory.CreateDirectory(_dir.File("images"));
                    System.IO.File.WriteAllBytes(_dir.File(names[i]), Png(vivid ? (byte)240 : (byte)128, vivid ? (byte)12 : (byte)120, vivid ? (byte)20 : (byte)125, k));
                    Mu[names[i]] = hack switch
                    {
                        "spread" => 1.0 + (p * 0.1), // every image of a prompt gets the same score
                        "drift" => 5.0 + (i * 0.5), // far above the reference set
                        _ => (p * 0.1) + (i * 0.5),
                    };
                    LogSigma[names[i]] = hack == "sigma_trend" ? Math.Log(k < 8 ? 0.5 : 2.0) : Math.Log(0.8);
                }

                records.Add(new { prompt = $"prompt {p}", path1 = names[1], path2 = names[0], model1 = "a", model2 = "b" });
                records.Add(new { prompt = $"prompt {p}", path1 = names[3], path2 = names[2], model1 = "a", model2 = "b" });
            }

            Dataset = _dir.File("test.json");
            System.IO.File.WriteAllText(Dataset, JsonSerializer.Serialize(records));

            // Reference μ 0.0, 0.1, …, 2.0: mean 1, std ≈ 0.61.
            Calibration = Calibration.FromScores(new ModelInfo("fake scorer", "fp", false, "fp32", 1, 1), "ref.jsonl", "00",
                [.. Enumerable.Range(0, 21).Select(i => new Score(i / 10.0, 0))], 0);
        }

        public Dictionary<string, double> Mu { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, double> LogSigma { get; } = new(StringComparer.Ordinal);

        public string Dataset { get; }

        public string Root => _dir.Path;

        public Calibration Calibration { get; }

        public string File(string name) => _dir.File(name);

        public FakeScorer Scorer() => new(r => new Score(Mu[r.Image.Name], LogSigma[r.Image.Name]));

        public void Dispose() => _dir.Dispose();

        private static byte[] Png(byte r, byte g, byte b, int seed)
        {
            using var bmp = new SKBitmap(16, 16);
            for (int y = 0; y < 16; y++)
            {
                for (int x = 0; x < 16; x++)
                {
                    bmp.SetPixel(x, y, new SKColor(r, g, (byte)(b + ((x + y + seed) % 3))));
                }
            }

            bmp.SetPixel(0, 0, new SKColor(r, g, (byte)(b + 3 + (seed % 5)))); // distinct bytes per image
            using var image = SKImage.FromBitmap(bmp);
            using var data = image.Encode(SKEncodedImageFormat.Png, 100);
            return data.ToArray();
        }
    }

    private static async Task<EvalResult> EvaluateAsync(ScoredSet set)
    {
        using var scorer = set.Scorer();
        var options = new EvalOptions { Calibration = set.Calibration, BootstrapResamples = 0 };
        var source = new ModelScoreSource(scorer, null, set.Root) { Pixels = new PixelMonitor(options.Monitor) };
        return await Evaluator.RunAsync(EvalDataset.Open(set.Dataset), source, options);
    }

    private static string[] Alerts(EvalResult r) => [.. r.Monitors!["alerts"]!.AsArray().Select(a => (string)a!)];

    [Theory]
    [InlineData("spread")]
    [InlineData("saturated_share")]
    [InlineData("sigma_trend")]
    [InlineData("drift")]
    public async Task EachMonitorFiresOnItsOwnOnAPurposeBuiltScoredSet(string hack)
    {
        using var set = new ScoredSet(hack);
        var r = await EvaluateAsync(set);
        Assert.Equal([hack], Alerts(r));
        var m = r.Monitors!;
        Assert.Equal(16, (int)m["window"]!["items"]!);
        Assert.Equal(16, (int)m["window"]!["with_pixels"]!);
        switch (hack)
        {
            case "spread":
                Assert.Equal(4, (int)m["spread"]!["collapsed_groups"]!);
                Assert.Equal(0.0, (double)m["spread"]!["mean_std"]!, 12);
                break;
            case "saturated_share":
                Assert.True((double)m["saturated_share"]!["mean"]! > 0.99);
                break;
            case "sigma_trend":
                Assert.Equal(4.0, (double)m["sigma_trend"]!["ratio"]!, 9);
                Assert.Equal(1.25, (double)m["mean_sigma"]!, 9);
                Assert.True((double)m["sigma_trend"]!["slope_per_1000"]! > 0);
                break;
            case "drift":
                Assert.True((double)m["drift"]!["z"]! > 2);
                Assert.Equal(100.0, (double)m["drift"]!["mean_percentile"]!);
                break;
        }

        // The report says so in every form.
        string dir = set.File("report");
        string html = File.ReadAllText(Reports.Write(r, dir));
        string md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains($"Monitors firing: {hack}.", md, StringComparison.Ordinal);
        Assert.Contains($"Monitors firing: {hack}.", html, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<tr class=\"fires\">"));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(md, @"\| \*\*yes\*\* \|"));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "result.json")));
        Assert.Equal(hack, json.RootElement.GetProperty("monitors").GetProperty("alerts")[0].GetString());
        Assert.Equal(16, json.RootElement.GetProperty("monitors").GetProperty("window").GetProperty("items").GetInt32());
    }

    [Fact]
    public async Task TheReportShowsEveryMonitorAndAnOrdinarySetFiresNone()
    {
        using var set = new ScoredSet("none");
        var r = await EvaluateAsync(set);
        Assert.Empty(Alerts(r));
        string dir = set.File("report");
        string html = File.ReadAllText(Reports.Write(r, dir));
        string md = File.ReadAllText(Path.Combine(dir, "report.md"));
        foreach (var text in new[] { "Reward-hacking monitors", "No reward-hacking monitor fires.", "per-prompt-group spread", "saturated pixels", "mean σ", "σ trend", "drift against calibration", "over 16 images", "over 4 of 4 prompts; 0 collapsed", "GET /v1/monitor" })
        {
            Assert.Contains(text, md, StringComparison.Ordinal);
            Assert.Contains(System.Net.WebUtility.HtmlEncode(text), html, StringComparison.Ordinal);
        }

        Assert.Contains("| mean σ | 0.8000 |", md, StringComparison.Ordinal);
        Assert.DoesNotContain("<tr class=\"fires\">", html, StringComparison.Ordinal);

        // Without a calibration there is no drift monitor, and the report says why.
        using var scorer = set.Scorer();
        var plain = await Evaluator.RunAsync(EvalDataset.Open(set.Dataset), new ModelScoreSource(scorer, null, set.Root), new EvalOptions { BootstrapResamples = 0 });
        Assert.Null(plain.Monitors!["drift"]);
        Assert.Equal(0, (int)plain.Monitors["saturated_share"]!["images"]!);
        string md2 = Reports.Markdown(plain, []);
        Assert.Contains("not computed: no calibration was given", md2, StringComparison.Ordinal);
        Assert.Contains("not measured", md2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AScoresFileGetsPixelsFromTheImagesRootAndMatchesTheServiceComputation()
    {
        using var set = new ScoredSet("saturated_share");
        string scores = set.File("scores.jsonl");
        File.WriteAllLines(scores, set.Mu.Keys.Select(k => JsonSerializer.Serialize(new { image = k, mu = set.Mu[k], log_sigma = set.LogSigma[k] })));
        var source = ScoresFileSource.Load(scores);
        var options = new EvalOptions { BootstrapResamples = 0 };
        source.Pixels = new PixelMonitor(options.Monitor);
        source.ImagesRoot = set.Root;
        var r = await Evaluator.RunAsync(EvalDataset.Open(set.Dataset), source, options);
        Assert.Equal(["saturated_share"], Alerts(r));
        Assert.Equal(16, (int)r.Monitors!["saturated_share"]!["images"]!);

        // The same items through the shared computation give the same summary (what the service's window reports).
        var items = set.Mu.Keys.Select(k => new MonitoredScore("prompt " + k[8], set.Mu[k], Math.Exp(set.LogSigma[k]))).ToList();
        var shares = set.Mu.Keys.Select(k => RewardMonitors.SaturatedShare(Core.Scoring.ImageInput.FromBytes(File.ReadAllBytes(set.File(k)), k), options.Monitor)!.Value).ToList();
        var direct = RewardMonitors.Summarize(items, shares, null, options.Monitor, new System.Text.Json.Nodes.JsonObject());
        foreach (var key in new[] { "groups", "spread", "saturated_share", "mean_sigma", "sigma_trend", "alerts" })
        {
            Assert.Equal(direct[key]!.ToJsonString(), r.Monitors[key]!.ToJsonString());
        }
    }
}
