using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace HpsSharp.Server.Tests;

[Trait("Category", "Integration")]
public sealed class ScoreEndpointTests
{
    private static readonly byte[][] Images = Enumerable.Range(0, 6).Select(i => TestImages.Png(8 + i, 6, (byte)(i * 20))).ToArray();

    [Fact]
    public async Task ScoreReturnsOneResultPerItemInInputOrder()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxBatchSize = 2 });
        var items = Images.Select((b, i) => new { prompt = $"p{i % 2}", image = TestImages.Base64(b) }).ToArray();
        var (status, body, _) = await host.PostJsonAsync("/v1/score", new { items });

        Assert.Equal(200, status);
        var results = body!["results"]!.AsArray();
        Assert.Equal(Images.Length, results.Count);
        for (int i = 0; i < Images.Length; i++)
        {
            Assert.Equal(TestImages.FakeMu($"p{i % 2}", Images[i]), (double)results[i]!["mu"]!, 12);
            Assert.Equal(0.0, (double)results[i]!["log_sigma"]!);
            Assert.Equal(1.0, (double)results[i]!["sigma"]!);
            Assert.Null(results[i]!["error"]);
            Assert.Null(results[i]!["group_z"]);
        }

        Assert.Equal("fake scorer", (string)body["model"]!["name"]!);
        Assert.False((bool)body["model"]!["released_hpsv3"]!);
    }

    [Fact]
    public async Task BadItemsGetAnErrorWithoutFailingTheOthers()
    {
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer);
        var good = TestImages.Base64(Images[0]);
        var items = new JsonArray(
            new JsonObject { ["prompt"] = "a", ["image"] = "%%% not base64 %%%" },
            new JsonObject { ["prompt"] = "a", ["image"] = good },
            new JsonObject { ["prompt"] = "a", ["image"] = Convert.ToBase64String("plain text, not an image"u8.ToArray()) },
            new JsonObject { ["image"] = good },
            new JsonObject { ["prompt"] = "a", ["image"] = "https://example.com/cat.png" },
            new JsonObject { ["prompt"] = "a", ["url"] = "https://example.com/cat.png" },
            new JsonObject { ["prompt"] = "a", ["path"] = "cat.png" },
            new JsonObject { ["prompt"] = "a", ["image"] = "data:image/png;base64," + good },
            "not an object");
        var (status, body, _) = await host.PostJsonAsync("/v1/score", new JsonObject { ["items"] = items }.ToJsonString());

        Assert.Equal(200, status);
        var r = body!["results"]!.AsArray();
        Assert.Equal(9, r.Count);
        Assert.Contains("base64", (string)r[0]!["error"]!, StringComparison.Ordinal);
        Assert.Equal(TestImages.FakeMu("a", Images[0]), (double)r[1]!["mu"]!, 12);
        Assert.Contains("not a decodable image", (string)r[2]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("prompt", (string)r[3]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("never fetched", (string)r[4]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("never fetched", (string)r[5]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("local paths are disabled", (string)r[6]!["error"]!, StringComparison.Ordinal);
        Assert.Equal(TestImages.FakeMu("a", Images[0]), (double)r[7]!["mu"]!, 12);
        Assert.Contains("items[8]", (string)r[8]!["error"]!, StringComparison.Ordinal);
        foreach (int i in new[] { 0, 2, 3, 4, 5, 6, 8 })
        {
            Assert.Equal(400, (int)r[i]!["status"]!);
            Assert.Null(r[i]!["mu"]);
        }

        Assert.Equal(2, scorer.Items); // only the two good items reached the model
    }

    [Fact]
    public async Task MultipartGivesTheSameScoresAsJson()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        using var form = new MultipartFormDataContent();
        for (int i = 0; i < 3; i++)
        {
            form.Add(new StringContent($"prompt {i}"), $"prompt[{i}]");
            var file = new ByteArrayContent(Images[i]);
            file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            form.Add(file, $"image[{i}]", $"img{i}.png");
        }

        form.Add(new StringContent("lonely prompt"), "prompt[3]");
        using var response = await host.Client.PostAsync("/v1/score", form);
        Assert.Equal(200, (int)response.StatusCode);
        var r = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["results"]!.AsArray();
        Assert.Equal(4, r.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(TestImages.FakeMu($"prompt {i}", Images[i]), (double)r[i]!["mu"]!, 12);
        }

        Assert.Contains("image[3]", (string)r[3]!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidUtf8InAMultipartPromptIsA400NamingTheField()
    {
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer);
        async Task<HttpResponseMessage> Post(byte[] prompt1)
        {
            using var form = new MultipartFormDataContent();
            for (int i = 0; i < 2; i++)
            {
                form.Add(new ByteArrayContent(i == 1 ? prompt1 : Encoding.UTF8.GetBytes("café ✓")), $"prompt[{i}]");
                form.Add(new ByteArrayContent(Images[i]), $"image[{i}]", $"img{i}.png");
            }

            return await host.Client.PostAsync("/v1/score", form);
        }

        // 0xC3 starts a 2-byte sequence that '(' does not continue; 0xFF never occurs in UTF-8.
        foreach (var bad in new[] { new byte[] { 0x61, 0xC3, 0x28 }, [0xFF], [0x61, 0xE2, 0x9C] })
        {
            using var response = await Post(bad);
            Assert.Equal(400, (int)response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            Assert.Contains("form field 'prompt[1]' is not valid UTF-8", (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["detail"]!, StringComparison.Ordinal);
        }

        Assert.Equal(0, scorer.Items);

        // Valid multi-byte text, including an encoded U+FFFD the client really sent, is scored as sent.
        using var ok = await Post(Encoding.UTF8.GetBytes("ok \uFFFD ✓"));
        Assert.Equal(200, (int)ok.StatusCode);
        var r = JsonNode.Parse(await ok.Content.ReadAsStringAsync())!["results"]!.AsArray();
        Assert.Equal(TestImages.FakeMu("café ✓", Images[0]), (double)r[0]!["mu"]!, 12);
        Assert.Equal(TestImages.FakeMu("ok \uFFFD ✓", Images[1]), (double)r[1]!["mu"]!, 12);
    }

    [Fact]
    public async Task RawRgbItemsAreScored()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var rgb = Enumerable.Range(0, 4 * 3 * 3).Select(i => (byte)(i * 7)).ToArray();
        var (status, body, _) = await host.PostJsonAsync("/v1/score", new
        {
            items = new object[]
            {
                new { prompt = "x", rgb = Convert.ToBase64String(rgb), width = 4, height = 3 },
                new { prompt = "x", rgb = Convert.ToBase64String(rgb), width = 5, height = 3 },
            },
        });
        Assert.Equal(200, status);
        var expected = FakeScorer.HashScore(new ScoreRequest("x", ImageInput.FromRgb(rgb, 4, 3))).Mu;
        Assert.Equal(expected, (double)body!["results"]![0]!["mu"]!, 12);
        Assert.Contains("width x height x 3", (string)body["results"]![1]!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GroupNormalisationGivesZScoresPerPrompt()
    {
        var mus = new Dictionary<byte, double> { [1] = 1.0, [2] = 2.0, [3] = 6.0, [4] = 10.0, [5] = -3.0 };
        var scorer = new FakeScorer(r => new Score(mus[FakeScorer.ImageBytes(r.Image)[0]], 0.5));
        await using var host = await ServiceHost.StartAsync(scorer);
        string Rgb(byte v) => Convert.ToBase64String(Enumerable.Repeat(v, 3).ToArray());
        var items = new object[]
        {
            new { prompt = "cat", rgb = Rgb(1), width = 1, height = 1 },
            new { prompt = "dog", rgb = Rgb(4), width = 1, height = 1 },
            new { prompt = "cat", rgb = Rgb(2), width = 1, height = 1 },
            new { prompt = "cat", image = "bad!" },
            new { prompt = "cat", rgb = Rgb(3), width = 1, height = 1 },
            new { prompt = "solo", rgb = Rgb(5), width = 1, height = 1 },
        };
        var (status, body, _) = await host.PostJsonAsync("/v1/score", new { items, normalize = "group" });
        Assert.Equal(200, status);
        var r = body!["results"]!.AsArray();

        // cat: μ = 1, 2, 6 → mean 3, population std sqrt(14/3)
        double std = Math.Sqrt(14.0 / 3.0);
        Assert.Equal((1 - 3) / std, (double)r[0]!["group_z"]!, 12);
        Assert.Equal((2 - 3) / std, (double)r[2]!["group_z"]!, 12);
        Assert.Equal((6 - 3) / std, (double)r[4]!["group_z"]!, 12);
        Assert.Equal(0.0, (double)r[1]!["group_z"]!); // a group of one has no spread
        Assert.Equal(0.0, (double)r[5]!["group_z"]!);
        Assert.Null(r[3]!["group_z"]);
        Assert.Equal(6.0, (double)r[4]!["mu"]!);

        var (bad, problem, _) = await host.PostJsonAsync("/v1/score", new { items, normalize = "global" });
        Assert.Equal(400, bad);
        Assert.Contains("normalize", (string)problem!["detail"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompareAndRankUseTheScores()
    {
        var mus = new Dictionary<byte, double> { [1] = 0.5, [2] = 3.0, [3] = -1.0 };
        var scorer = new FakeScorer(r => new Score(mus[FakeScorer.ImageBytes(r.Image)[0]], Math.Log(0.7)));
        await using var host = await ServiceHost.StartAsync(scorer);
        var imgs = new[] { (byte)1, (byte)2, (byte)3 }.Select(v => new { rgb = Convert.ToBase64String(Enumerable.Repeat(v, 3).ToArray()), width = 1, height = 1 }).ToArray();

        var (status, body, _) = await host.PostJsonAsync("/v1/compare", new { prompt = "p", a = imgs[0], b = imgs[1] });
        Assert.Equal(200, status);
        double expected = Preference.ProbabilityAOverB(new Score(0.5, Math.Log(0.7)), new Score(3.0, Math.Log(0.7)));
        Assert.Equal(expected, (double)body!["p_a_over_b"]!, 12);
        Assert.True((double)body["p_a_over_b"]! < 0.5);
        Assert.Equal(3.0, (double)body["b"]!["mu"]!);

        var (rs, rank, _) = await host.PostJsonAsync("/v1/rank", new { prompt = "p", images = new object[] { imgs[0], "bad!", imgs[1], imgs[2] } });
        Assert.Equal(200, rs);
        Assert.Equal(new[] { 2, 0, 3 }, rank!["order"]!.AsArray().Select(n => (int)n!).ToArray());
        Assert.NotNull(rank["results"]![1]!["error"]);

        var (cs, problem, _) = await host.PostJsonAsync("/v1/compare", new { prompt = "p", a = imgs[0], b = "bad!" });
        Assert.Equal(400, cs);
        Assert.Contains("b:", (string)problem!["detail"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ManyConcurrentRequestsSplitAcrossBatchesComeBackWhole()
    {
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(2) };
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxBatchSize = 3, MaxWaitMs = 2 });
        var images = Enumerable.Range(0, 40).Select(i => TestImages.Png(4, 4, (byte)i)).ToArray();
        var tasks = Enumerable.Range(0, 8).Select(async r =>
        {
            var idx = Enumerable.Range(0, 7).Select(k => (r * 5 + k) % images.Length).ToArray();
            var items = idx.Select(i => new { prompt = $"prompt {r}", image = TestImages.Base64(images[i]) }).ToArray();
            var (status, body, _) = await host.PostJsonAsync("/v1/score", new { items });
            Assert.Equal(200, status);
            var res = body!["results"]!.AsArray();
            Assert.Equal(7, res.Count);
            for (int k = 0; k < 7; k++)
            {
                Assert.Equal(TestImages.FakeMu($"prompt {r}", images[idx[k]]), (double)res[k]!["mu"]!, 12);
            }
        }).ToArray();
        await Task.WhenAll(tasks);

        var sizes = scorer.BatchSizes.ToArray();
        Assert.Equal(56, sizes.Sum());
        Assert.All(sizes, s => Assert.InRange(s, 1, 3));
        Assert.Contains(3, sizes); // a 7-item request is queued at once, so full batches must occur
    }

    [Fact]
    public async Task ItemsWaitingInTheQueueAreScoredInFullBatchesAcrossRequests()
    {
        // While the first item is being scored, 2 + 4 items from two requests queue up; the worker must then take
        // them as full batches of 3 (items of both requests together), not one request or one item at a time.
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(300) };
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxBatchSize = 3, MaxWaitMs = 0 });
        object Body(int n, int seed) => new { items = Enumerable.Range(0, n).Select(i => new { prompt = "p", image = TestImages.Base64(TestImages.Png(4, 4, (byte)(seed + i))) }).ToArray() };
        var first = host.PostJsonAsync("/v1/score", Body(1, 0));
        await ServiceHost.WaitUntilAsync(() => scorer.Calls == 1, "the worker took the first item");
        var second = host.PostJsonAsync("/v1/score", Body(2, 10));
        await ServiceHost.WaitUntilAsync(() => host.App.Queue().Depth == 2, "the second request is queued");
        var third = host.PostJsonAsync("/v1/score", Body(4, 20));
        // A full batch waiting is handed to the scorer while the first is still scored, so the queue may shrink at once.
        await ServiceHost.WaitUntilAsync(() => host.App.Queue().Depth == 6 || scorer.Calls == 2, "the third request is queued");

        Assert.Equal(200, (await first).Status);
        Assert.Equal(200, (await second).Status);
        Assert.Equal(200, (await third).Status);
        Assert.Equal([1, 3, 3], scorer.BatchSizes.ToArray());
    }

    [Fact]
    public async Task ScorerFailureBecomesItemErrorsAndTheServiceGoesOn()
    {
        // The device failed (libtorch reports CUDA out-of-memory so): each item is reported failed, the service goes on.
        var scorer = new ThrowingOnceScorer(new System.Runtime.InteropServices.ExternalException("boom"));
        await using var host = await ServiceHost.StartAsync(scorer);
        var items = new[] { new { prompt = "p", image = TestImages.Base64(Images[0]) } };
        var (s1, b1, _) = await host.PostJsonAsync("/v1/score", new { items });
        Assert.Equal(200, s1);
        Assert.Contains("scoring failed: boom", (string)b1!["results"]![0]!["error"]!, StringComparison.Ordinal);
        Assert.Equal(422, (int)b1["results"]![0]!["status"]!);
        var (s2, b2, _) = await host.PostJsonAsync("/v1/score", new { items });
        Assert.Equal(200, s2);
        Assert.NotNull(b2!["results"]![0]!["mu"]);
    }

    [Fact]
    public async Task ABugInTheScorerIsAServerErrorNotItemErrorsAndTheServiceGoesOn()
    {
        // An exception that is no batch fault is a bug: a 500 for the request, never a per-item 422 that a client
        // would take for its images' fault.
        var scorer = new ThrowingOnceScorer(new InvalidOperationException("boom"));
        await using var host = await ServiceHost.StartAsync(scorer);
        var items = new[] { new { prompt = "p", image = TestImages.Base64(Images[0]) } };
        var (s1, b1, _) = await host.PostJsonAsync("/v1/score", new { items });
        Assert.Equal(500, s1);
        Assert.Null(b1?["results"]);
        var (s2, b2, _) = await host.PostJsonAsync("/v1/score", new { items });
        Assert.Equal(200, s2);
        Assert.NotNull(b2!["results"]![0]!["mu"]);
    }

    [Fact]
    public async Task ProbesMetricsAndOpenApiDescribeTheService()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxBatchSize = 4 });
        Assert.Equal(200, (int)(await host.Client.GetAsync("/healthz")).StatusCode);
        var ready = JsonNode.Parse(await host.Client.GetStringAsync("/readyz"))!;
        Assert.Equal("ready", (string)ready["status"]!);
        await host.PostJsonAsync("/v1/score", new { items = new[] { new { prompt = "p", image = TestImages.Base64(Images[0]) } } });
        await host.PostJsonAsync("/v1/score", "{not json");

        using var metricsResponse = await host.Client.GetAsync("/metrics");
        Assert.StartsWith("text/plain", metricsResponse.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
        var metrics = await metricsResponse.Content.ReadAsStringAsync();
        Assert.Contains("hps_requests_total{code=\"200\",endpoint=\"/v1/score\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("hps_requests_total{code=\"400\",endpoint=\"/v1/score\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("hps_items_total{outcome=\"ok\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"1\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"+Inf\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("hps_queue_depth{} 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE hps_request_duration_seconds histogram", metrics, StringComparison.Ordinal);
        Assert.Contains("hps_model_ready{} 1\n", metrics, StringComparison.Ordinal);

        // The generated OpenAPI document lists every route the service maps (except the document's own), and nothing else.
        var doc = JsonNode.Parse(await host.Client.GetStringAsync("/openapi.json"))!;
        Assert.StartsWith("3.1", (string)doc["openapi"]!, StringComparison.Ordinal);
        var documented = doc["paths"]!.AsObject().Select(p => p.Key).ToHashSet();
        var mapped = host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/')).Where(p => !ServiceOpenApi.Paths.Contains(p)).ToHashSet();
        Assert.Equal(mapped.Order(StringComparer.Ordinal), documented.Order(StringComparer.Ordinal));
    }

    private sealed class ThrowingOnceScorer(Exception failure) : IScorer
    {
        private readonly FakeScorer _inner = new();
        private int _calls;

        public ModelInfo Model => _inner.Model;

        public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default) =>
            Interlocked.Increment(ref _calls) == 1 ? throw failure : _inner.ScoreAsync(requests, progress, cancellationToken);

        public void Dispose() => _inner.Dispose();
    }
}
