using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Server.Monitoring;
using HpsSharp.Testing;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;
using Xunit;

namespace HpsSharp.Server.Tests;

/// <summary>Each reward-hacking monitor, made to fire on purpose-built inputs and to stay quiet on ordinary ones.</summary>
[Trait("Category", "Integration")]
public sealed class MonitorTests
{
    private static byte[] Solid(byte r, byte g, byte b, int seed)
    {
        using var bmp = new SKBitmap(16, 16);
        for (int y = 0; y < 16; y++)
        {
            for (int x = 0; x < 16; x++)
            {
                bmp.SetPixel(x, y, new SKColor(r, g, (byte)Math.Min(255, b + ((x + seed) % 3))));
            }
        }

        using var image = SKImage.FromBitmap(bmp);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static async Task<JsonNode> ScoreThenMonitorAsync(ServiceHost host, IEnumerable<(string Prompt, byte[] Image)> items)
    {
        foreach (var chunk in items.Chunk(8))
        {
            var arr = new JsonArray([.. chunk.Select(i => (JsonNode)new JsonObject { ["prompt"] = i.Prompt, ["image"] = Convert.ToBase64String(i.Image) })]);
            var (status, _, _) = await host.PostJsonAsync("/v1/score", new JsonObject { ["items"] = arr }.ToJsonString());
            Assert.Equal(200, status);
        }

        await host.App.Services.GetRequiredService<RewardMonitor>().FlushAsync();
        var r = await host.Client.GetStringAsync("/v1/monitor");
        return JsonNode.Parse(r)!;
    }

    private static IEnumerable<(string, byte[])> Groups(int prompts, int perPrompt, Func<int, int, byte[]> image) =>
        from p in Enumerable.Range(0, prompts) from i in Enumerable.Range(0, perPrompt) select ($"prompt {p}", image(p, i));

    [Fact]
    public async Task SpreadFiresWhenEveryGroupCollapsesToOneScore()
    {
        await using (var host = await ServiceHost.StartAsync(new FakeScorer(_ => new Score(3.0, 0))))
        {
            var m = await ScoreThenMonitorAsync(host, Groups(3, 4, (p, i) => TestImages.Png(8, 8, (byte)((p * 4) + i))));
            Assert.True((bool)m["spread"]!["alert"]!);
            Assert.Equal(3, (int)m["spread"]!["collapsed_groups"]!);
            Assert.Equal(12, (int)m["window"]!["items"]!);
            Assert.Contains("spread", m["alerts"]!.AsArray().Select(a => (string)a!));
        }

        await using (var host = await ServiceHost.StartAsync(new FakeScorer()))
        {
            var m = await ScoreThenMonitorAsync(host, Groups(3, 4, (p, i) => TestImages.Png(8, 8, (byte)((p * 4) + i))));
            Assert.False((bool)m["spread"]!["alert"]!);
            Assert.True((double)m["spread"]!["mean_std"]! > 0.1);
        }
    }

    [Fact]
    public async Task SaturatedShareFiresOnVividImagesOnly()
    {
        var everyImage = new RewardServiceOptions { Monitor = new MonitorOptions { PixelSampleShare = 1 } };
        await using (var host = await ServiceHost.StartAsync(new FakeScorer(), everyImage))
        {
            var m = await ScoreThenMonitorAsync(host, Groups(2, 4, (p, i) => Solid(250, 10, 20, i)));
            Assert.True((bool)m["saturated_share"]!["alert"]!);
            Assert.True((double)m["saturated_share"]!["mean"]! > 0.99);
            Assert.Equal(8, (int)m["saturated_share"]!["images"]!);
        }

        await using (var host = await ServiceHost.StartAsync(new FakeScorer(), everyImage))
        {
            var m = await ScoreThenMonitorAsync(host, Groups(2, 4, (p, i) => Solid(128, 120, 125, i)));
            Assert.False((bool)m["saturated_share"]!["alert"]!);
            Assert.True((double)m["saturated_share"]!["mean"]! < 0.01);
        }
    }

    [Fact]
    public async Task SigmaTrendFiresWhenUncertaintyRises()
    {
        // σ grows with the round: the newer half of the window is far less certain than the older half.
        await using var host = await ServiceHost.StartAsync(new FakeScorer(r => new Score(FakeScorer.HashScore(r).Mu, r.Prompt.StartsWith("late", StringComparison.Ordinal) ? Math.Log(2) : Math.Log(0.5))));
        var early = Enumerable.Range(0, 16).Select(i => ("early", TestImages.Png(8, 8, (byte)i)));
        var late = Enumerable.Range(0, 16).Select(i => ("late", TestImages.Png(8, 8, (byte)(100 + i))));
        var m = await ScoreThenMonitorAsync(host, early.Concat(late));
        Assert.True((bool)m["sigma_trend"]!["alert"]!);
        Assert.Equal(4.0, (double)m["sigma_trend"]!["ratio"]!, 9);
        Assert.True((double)m["sigma_trend"]!["slope_per_1000"]! > 0);
        Assert.Equal(1.25, (double)m["mean_sigma"]!, 9);

        await using var steady = await ServiceHost.StartAsync(new FakeScorer());
        var m2 = await ScoreThenMonitorAsync(steady, early.Concat(late));
        Assert.False((bool)m2["sigma_trend"]!["alert"]!);
    }

    [Fact]
    public async Task DriftFiresWhenScoresClimbFarAboveTheReferenceAndShowsOnMetrics()
    {
        var calib = Calibration.FromScores(new ModelInfo("fake scorer", "fp", false, "fp32", 1, 1), "ref.jsonl", "00",
            [.. Enumerable.Range(0, 21).Select(i => new Score((i - 10) / 10.0, 0))], 0);
        await using (var host = await ServiceHost.StartAsync(new FakeScorer(_ => new Score(4.0, 0)), new RewardServiceOptions { Calibration = calib }))
        {
            var m = await ScoreThenMonitorAsync(host, Groups(2, 3, (p, i) => TestImages.Png(8, 8, (byte)((p * 3) + i))));
            Assert.True((bool)m["drift"]!["alert"]!);
            Assert.True((double)m["drift"]!["z"]! > 5);
            Assert.Equal(100.0, (double)m["drift"]!["mean_percentile"]!);
            var metrics = await host.Client.GetStringAsync("/metrics");
            Assert.Contains("hps_monitor_alert{monitor=\"drift\"} 1", metrics, StringComparison.Ordinal);
            Assert.Contains("hps_monitor_window_items{} 6\n", metrics, StringComparison.Ordinal);
        }

        await using (var host = await ServiceHost.StartAsync(new FakeScorer(_ => new Score(0.1, 0)), new RewardServiceOptions { Calibration = calib }))
        {
            var m = await ScoreThenMonitorAsync(host, Groups(2, 3, (p, i) => TestImages.Png(8, 8, (byte)((p * 3) + i))));
            Assert.False((bool)m["drift"]!["alert"]!);
        }

        await using (var host = await ServiceHost.StartAsync(new FakeScorer()))
        {
            var m = await ScoreThenMonitorAsync(host, Groups(1, 2, (p, i) => TestImages.Png(8, 8, (byte)i)));
            Assert.Null(m["drift"]); // no calibration, no drift
        }
    }

    [Fact]
    public void TheWindowSlides()
    {
        using var monitor = new RewardMonitor(new MonitorOptions { WindowSize = 5 }, null);
        var results = Enumerable.Range(0, 12).Select(i => ScoreResult.Success(new ScoreRequest("p", ImageInput.FromRgb(new byte[3], 1, 1)), new Score(i, 0))).ToList();
        monitor.Record(results);
        var s = monitor.Snapshot();
        Assert.Equal(5, (int)s["window"]!["items"]!);
        Assert.Equal(8, (long)s["window"]!["first_seq"]!);
        Assert.Equal(12, (long)s["window"]!["last_seq"]!);
    }

    [Theory]
    [InlineData(1.0, 12)]
    [InlineData(0.25, 3)]
    [InlineData(0.0, 0)]
    public async Task ThePixelMonitorMeasuresItsSampleOfTheImages(double share, int images)
    {
        // Decoding every scored image again is the monitor's one real cost: it reads a systematic sample (0: none).
        using var monitor = new RewardMonitor(new MonitorOptions { PixelSampleShare = share }, null);
        for (int batch = 0; batch < 4; batch++)
        {
            monitor.Record([.. Enumerable.Range(0, 3).Select(i => ScoreResult.Success(new ScoreRequest("p", ImageInput.FromBytes(Solid(250, 10, 20, i))), new Score(batch, 0)))]);
            await monitor.FlushAsync();
        }

        var s = monitor.Snapshot();
        Assert.Equal(images, (int)s["saturated_share"]!["images"]!);
        Assert.Equal(12, (int)s["window"]!["items"]!); // μ and σ are recorded for every item
    }

    [Fact]
    public void ThePixelSampleIsAShare()
    {
        var e = Assert.Throws<HpsSharp.Core.UserInputException>(() => new RewardServiceOptions { Monitor = new MonitorOptions { PixelSampleShare = 1.5 } }.Validate());
        Assert.Contains("monitor pixel sample share", e.Message, StringComparison.Ordinal);
    }
}
