using System.Text.Json.Nodes;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Server.Tests;

[Trait("Category", "Integration")]
public sealed class RewardAndVideoTests
{
    private static readonly byte[][] Images = [.. Enumerable.Range(0, 4).Select(i => TestImages.Png(8, 8, (byte)(i * 40)))];

    /// <summary>μ from the hash, log σ = log 0.5 for every item.</summary>
    private static FakeScorer HalfSigma() => new(r => new Score(FakeScorer.HashScore(r).Mu, Math.Log(0.5)));

    private static Calibration Calib() => Calibration.FromScores(
        new ModelInfo("fake scorer", "fp", false, "fp32", 1, 1), "ref.jsonl", "00", [.. Enumerable.Range(0, 11).Select(i => new Score(i - 5, 0))], 0);

    private static JsonObject Body(string? reward, double? k = null)
    {
        var items = new JsonArray([.. Images.Select((b, i) => (JsonNode)new JsonObject { ["prompt"] = $"p{i % 2}", ["image"] = Convert.ToBase64String(b) })]);
        var body = new JsonObject { ["items"] = items };
        if (reward is not null)
        {
            body["reward"] = reward;
        }

        if (k is not null)
        {
            body["k"] = k;
        }

        return body;
    }

    [Fact]
    public async Task RewardSelectionGivesEachResultItsReward()
    {
        await using var host = await ServiceHost.StartAsync(HalfSigma(), new RewardServiceOptions { Calibration = Calib() });
        double Mu(int i) => TestImages.FakeMu($"p{i % 2}", Images[i]);

        var (s1, b1, _) = await host.PostJsonAsync("/v1/score", Body("mu_minus_k_sigma", 2).ToJsonString());
        Assert.Equal(200, s1);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(Mu(i) - (2 * 0.5), (double)b1!["results"]![i]!["reward"]!, 12);
            Assert.Equal(Calib().Percentile(Mu(i)), (double)b1["results"]![i]!["percentile"]!, 12);
        }

        var (_, b2, _) = await host.PostJsonAsync("/v1/score", Body("group_z").ToJsonString());
        for (int g = 0; g < 2; g++)
        {
            double a = Mu(g), c = Mu(g + 2), mean = (a + c) / 2, std = Math.Abs(a - c) / 2;
            Assert.Equal((a - mean) / std, (double)b2!["results"]![g]!["reward"]!, 9);
            Assert.Equal((c - mean) / std, (double)b2["results"]![g + 2]!["reward"]!, 9);
        }

        var (_, b3, _) = await host.PostJsonAsync("/v1/score", Body("percentile").ToJsonString());
        Assert.Equal(Calib().Percentile(Mu(1)), (double)b3!["results"]![1]!["reward"]!, 12);

        var (_, b4, _) = await host.PostJsonAsync("/v1/score", Body(null).ToJsonString());
        Assert.Null(b4!["results"]![0]!["reward"]); // no "reward" asked, none added; percentile still there
        Assert.NotNull(b4["results"]![0]!["percentile"]);
    }

    [Fact]
    public async Task PercentileWithoutCalibrationAndUnknownRewardsAre400()
    {
        // The advice names the option field; a host that passes OptionNames (hps serve: its flags) prints its own name.
        await using (var plain = await ServiceHost.StartAsync(new FakeScorer()))
        {
            var (s0, b0, _) = await plain.PostJsonAsync("/v1/score", Body("percentile").ToJsonString());
            Assert.Equal(400, s0);
            Assert.Contains("start the service with Calibration calib.json", (string)b0!["detail"]!, StringComparison.Ordinal);
        }

        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { OptionNames = new OptionNameFormat(f => "--" + f.ToLowerInvariant()) });
        var (s1, b1, _) = await host.PostJsonAsync("/v1/score", Body("percentile").ToJsonString());
        Assert.Equal(400, s1);
        Assert.Contains("start the service with --calibration calib.json", (string)b1!["detail"]!, StringComparison.Ordinal);
        var (s2, b2, _) = await host.PostJsonAsync("/v1/score", Body("best").ToJsonString());
        Assert.Equal(400, s2);
        Assert.Contains("mu_minus_k_sigma", (string)b2!["detail"]!, StringComparison.Ordinal);
        var (s3, _, _) = await host.PostJsonAsync("/v1/score", Body("mu_minus_k_sigma", -1).ToJsonString());
        Assert.Equal(400, s3);
    }

    [FfmpegFact]
    public async Task VideoItemsAreScoredFrameByFrameAndACorruptClipFailsAlone()
    {
        using var dir = TestPaths.TempDir();
        var a = File.ReadAllBytes(TestClips.TestSrc(dir.File("a.mp4"), frames: 8));
        var b = File.ReadAllBytes(TestClips.Ramp(dir.File("b.mp4"), frames: 6));
        var bad = File.ReadAllBytes(TestClips.Corrupt(dir.File("bad.mp4"), dir.File("a.mp4")));
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxBatchSize = 16 });
        var items = new JsonArray(
            new JsonObject { ["prompt"] = "clip a", ["video"] = Convert.ToBase64String(a), ["frames"] = 4, ["aggregate"] = "top_fraction:0.5" },
            new JsonObject { ["prompt"] = "clip b", ["video"] = Convert.ToBase64String(b), ["stride"] = 2 },
            new JsonObject { ["prompt"] = "clip a", ["video"] = Convert.ToBase64String(bad) },
            new JsonObject { ["prompt"] = "an image", ["image"] = Convert.ToBase64String(Images[0]) },
            new JsonObject { ["prompt"] = "clip a", ["video"] = Convert.ToBase64String(a), ["frames"] = 2, ["stride"] = 2 });

        var (status, body, _) = await host.PostJsonAsync("/v1/score", new JsonObject { ["items"] = items, ["reward"] = "mu" }.ToJsonString());

        Assert.Equal(200, status);
        var r = body!["results"]!.AsArray();
        var framesA = r[0]!["frames"]!.AsArray();
        Assert.Equal([0, 2, 5, 7], framesA.Select(f => (int)f!["index"]!));
        var muA = framesA.Select(f => (double)f!["mu"]!).OrderDescending().ToList();
        Assert.Equal((muA[0] + muA[1]) / 2, (double)r[0]!["mu"]!, 12);
        Assert.Equal("top_fraction:0.5", (string)r[0]!["aggregate"]!);
        Assert.Equal((double)r[0]!["mu"]!, (double)r[0]!["reward"]!, 12);
        Assert.Equal([0, 2, 4], r[1]!["frames"]!.AsArray().Select(f => (int)f!["index"]!));
        Assert.Equal(r[1]!["frames"]!.AsArray().Average(f => (double)f!["mu"]!), (double)r[1]!["mu"]!, 12);
        Assert.Equal("mean", (string)r[1]!["aggregate"]!);
        Assert.Contains("not a decodable video", (string)r[2]!["error"]!, StringComparison.Ordinal);
        Assert.Equal(400, (int)r[2]!["status"]!);
        Assert.Equal(TestImages.FakeMu("an image", Images[0]), (double)r[3]!["mu"]!, 12);
        Assert.Contains("not both", (string)r[4]!["error"]!, StringComparison.Ordinal);
        Assert.Equal(4 + 3 + 1, scorer.Items);
    }

    [FfmpegFact]
    public async Task UniRlVideoHpsv3IsTheTopThirtyPercentMeanOfEveryFrame()
    {
        using var dir = TestPaths.TempDir();
        var clip = File.ReadAllBytes(TestClips.TestSrc(dir.File("a.mp4"), frames: 7));
        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxBatchSize = 8 });
        var body = new JsonObject
        {
            ["requests"] = new JsonArray(new JsonObject
            {
                ["history"] = new JsonArray(new JsonObject { ["text"] = "a clip", ["video_b64"] = Convert.ToBase64String(clip) }),
                ["required_rewards"] = new JsonArray("videohpsv3"),
            }),
        };
        var (status, answer, _) = await host.PostJsonAsync("/score", body.ToJsonString());
        Assert.Equal(200, status);

        // Cross-check against /v1/score's per-frame scores of every frame (stride 1).
        var (_, frames, _) = await host.PostJsonAsync("/v1/score", new JsonObject
        {
            ["items"] = new JsonArray(new JsonObject { ["prompt"] = "a clip", ["video"] = Convert.ToBase64String(clip), ["stride"] = 1 }),
        }.ToJsonString());
        var mus = frames!["results"]![0]!["frames"]!.AsArray().Select(f => (double)f!["mu"]!).OrderDescending().ToList();
        Assert.Equal(7, mus.Count);
        Assert.Equal((mus[0] + mus[1]) / 2, (double)answer!["results"]![0]!["videohpsv3"]!["videohpsv3"]!, 12); // max(1, int(7·0.3)) = 2
    }
}
