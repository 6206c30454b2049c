using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using HpsSharp.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Server.Tests;

/// <summary>
/// The service under abuse, each load bounded in count and time and on loopback: concurrent large bodies against
/// the in-flight byte budget (with the process's memory measured), shutdown while requests wait, malformed text and
/// multipart, and files under the image root that are not regular files.
/// </summary>
[Trait("Category", "Integration")]
[Collection(AbuseCollection.Name)]
public sealed class AbuseTests(ITestOutputHelper output)
{
    private const int MiB = 1024 * 1024;

    private static object Items(int n, int seed) => new
    {
        items = Enumerable.Range(0, n).Select(i => new { prompt = "p", image = TestImages.Base64(TestImages.Png(4, 4, (byte)(seed + i))) }).ToArray(),
    };

    private static void AssertProblem(HttpResponseMessage response, JsonNode? body, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(status, (int)body!["status"]!);
    }

    /// <summary>A JSON body of about <paramref name="bytes"/> bytes: one small valid item and a padding field.</summary>
    private static byte[] PaddedBody(int bytes)
    {
        var head = $"{{\"items\":[{{\"prompt\":\"p\",\"image\":\"{TestImages.Base64(TestImages.Png(4, 4, 7))}\"}}],\"padding\":\"";
        var body = new byte[bytes];
        Encoding.ASCII.GetBytes(head).CopyTo(body, 0);
        body.AsSpan(head.Length, bytes - head.Length - 2).Fill((byte)'A');
        body[^2] = (byte)'"';
        body[^1] = (byte)'}';
        return body;
    }

    [Fact]
    public async Task ConcurrentLargeBodiesStayWithinTheByteBudgetAndTheRestGet503()
    {
        const int Requests = 20, BodyBytes = 12 * MiB;
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(800) };
        var options = new RewardServiceOptions { MaxRequestBodyBytes = 16 * MiB, MaxInflightBytes = 32 * MiB, RetryAfterSeconds = 2 };
        await using var host = await ServiceHost.StartAsync(scorer, options);
        var payload = PaddedBody(BodyBytes); // one array shared by every request: the client holds 12 MiB, not 240

        // Warm up (JIT, pools), then take the baseline.
        Assert.Equal(200, (await host.PostJsonAsync("/v1/score", Items(1, 0))).Status);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long baseline = Rss();
        long peak = baseline;
        using var stopSampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, Rss());
                await Task.Delay(5);
            }
        });

        var sw = Stopwatch.StartNew();
        var answers = await Task.WhenAll(Enumerable.Range(0, Requests).Select(async _ =>
        {
            using var content = new ByteArrayContent(payload);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await host.Client.PostAsync("/v1/score", content);
            var text = await response.Content.ReadAsStringAsync();
            return ((int)response.StatusCode, response.Headers.RetryAfter?.Delta, text.Length == 0 ? null : JsonNode.Parse(text));
        }));
        await stopSampling.CancelAsync();
        await sampler;
        long growth = peak - baseline;
        output.WriteLine($"{Requests} × {BodyBytes / MiB} MiB bodies, budget {options.MaxInflightBytes / MiB} MiB: " +
            $"{answers.Count(a => a.Item1 == 200)} × 200, {answers.Count(a => a.Item1 == 503)} × 503 in {sw.Elapsed.TotalSeconds:F1} s; peak RSS growth {growth / MiB} MiB");

        Assert.All(answers, a => Assert.Contains(a.Item1, new[] { 200, 503 }));
        Assert.InRange(answers.Count(a => a.Item1 == 200), 2, Requests - 1);
        foreach (var (_, retryAfter, body) in answers.Where(a => a.Item1 == 503))
        {
            Assert.Equal(TimeSpan.FromSeconds(2), retryAfter);
            Assert.Equal("max_inflight_bytes", (string)body!["limit"]!);
        }

        // 20 bodies buffered at once would take 240 MiB and more; the budget admits 2 at a time.
        Assert.True(growth < 160L * MiB, $"peak RSS grew by {growth / MiB} MiB");
        Assert.Equal(0, host.App.Services.GetRequiredService<Admission>().ReservedBytes);
    }

    private static long Rss()
    {
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64;
    }

    [Fact]
    public async Task ShutdownAnswersEveryAcceptedRequestAndRefusesNewOnes()
    {
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(150) };
        var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxBatchSize = 1, DrainTimeoutSeconds = 30 });
        try
        {
            var accepted = Enumerable.Range(0, 8).Select(i => host.PostJsonAsync("/v1/score", Items(1, i * 10))).ToArray();
            var admission = host.App.Services.GetRequiredService<Admission>();
            await ServiceHost.WaitUntilAsync(() => admission.InFlight == 8, "all eight requests are admitted");

            var stop = host.App.StopAsync(CancellationToken.None); // what SIGTERM does
            await ServiceHost.WaitUntilAsync(() => admission.Draining, "the drain began");
            Assert.True(host.App.Queue().Depth > 0, "requests were still waiting when the drain began");
            using var late = new HttpClient { BaseAddress = host.BaseAddress };
            for (int i = 0; i < 5; i++)
            {
                using var response = await late.PostAsync("/v1/score", new StringContent(System.Text.Json.JsonSerializer.Serialize(Items(1, 99)), Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.NotNull(response.Headers.RetryAfter);
                Assert.Contains("stopping", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            var readyz = await late.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, readyz.StatusCode);
            foreach (var a in accepted)
            {
                var (status, body, _) = await a;
                Assert.Equal(200, status);
                Assert.NotNull(body!["results"]![0]!["mu"]);
            }

            await stop.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(8, scorer.Items);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    [Fact]
    public async Task TheDrainEndsAtItsTimeout()
    {
        var scorer = new FakeScorer { Delay = TimeSpan.FromSeconds(20) };
        var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxBatchSize = 1, DrainTimeoutSeconds = 1 });
        try
        {
            var pending = host.PostJsonAsync("/v1/score", Items(1, 0));
            await ServiceHost.WaitUntilAsync(() => scorer.Calls == 1, "the item is being scored");
            var sw = Stopwatch.StartNew();
            await host.App.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(25));
            Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 8); // the drain timeout, not the scorer's 20 s
            var (status, body, _) = await pending;
            Assert.Equal(503, status);
            Assert.Equal("shutting down", (string)body!["title"]!);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    /// <summary>JSON string literals (quotes included) that parse but are not text.</summary>
    public static TheoryData<string> BadStrings() => new()
    {
        "escaped lone high surrogate",
        "escaped lone low surrogate",
        "invalid UTF-8 bytes",
        "invalid UTF-8 in a key",
    };

    private static byte[] Bytes(params object[] parts) =>
        parts.SelectMany(p => p is string s ? Encoding.UTF8.GetBytes(s) : (byte[])p).ToArray();

    private static byte[] BadString(string kind) => kind switch
    {
        "escaped lone high surrogate" => Bytes("\"\\ud800\""),
        "escaped lone low surrogate" => Bytes("\"\\udc00 tail\""),
        "invalid UTF-8 bytes" => Bytes("\"", new byte[] { 0xC3, 0x28, 0xFF }, "\""),
        _ => Bytes("\"", new byte[] { 0xFE, 0xFF }, "\""),
    };

    [Theory]
    [MemberData(nameof(BadStrings))]
    public async Task InvalidTextIsA400ProblemUnderLoad(string kind)
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var bad = BadString(kind);
        const string Image = "\"AAAA\"";
        var bodies = kind == "invalid UTF-8 in a key"
            ? new Dictionary<string, byte[]>
            {
                ["/v1/score"] = Bytes("{\"items\":[{", bad, ":1,\"prompt\":\"p\",\"image\":", Image, "}]}"),
                ["/v1/rank"] = Bytes("{", bad, ":1,\"prompt\":\"p\",\"images\":[", Image, "]}"),
                ["/v1/compare"] = Bytes("{", bad, ":1,\"prompt\":\"p\",\"a\":", Image, ",\"b\":", Image, "}"),
            }
            : new Dictionary<string, byte[]>
            {
                ["/v1/score"] = Bytes("{\"items\":[{\"prompt\":", bad, ",\"image\":", Image, "}]}"),
                ["/v1/rank"] = Bytes("{\"prompt\":", bad, ",\"images\":[", Image, "]}"),
                ["/v1/compare"] = Bytes("{\"prompt\":", bad, ",\"a\":", Image, ",\"b\":", Image, "}"),
            };
        foreach (var (path, body) in bodies)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 25).Select(async _ =>
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                var response = await host.Client.PostAsync(path, content);
                var text = await response.Content.ReadAsStringAsync();
                return (response, text);
            }));
            foreach (var (response, text) in answers)
            {
                Assert.True((int)response.StatusCode == 400, $"{path} with {kind}: {(int)response.StatusCode} {text}");
                AssertProblem(response, JsonNode.Parse(text), 400);
            }
        }

        Assert.Equal(200, (await host.PostJsonAsync("/v1/score", Items(1, 0))).Status);
    }

    [Fact]
    public async Task TruncatedMultipartIsA400ProblemUnderLoad()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        const string Boundary = "b0undary";
        var whole = Encoding.ASCII.GetBytes(
            $"--{Boundary}\r\nContent-Disposition: form-data; name=\"prompt[0]\"\r\n\r\na cat\r\n" +
            $"--{Boundary}\r\nContent-Disposition: form-data; name=\"image[0]\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n");
        var png = TestImages.Png(8, 8, 3);
        byte[] full = [.. whole, .. png, .. Encoding.ASCII.GetBytes($"\r\n--{Boundary}--\r\n")];
        var cuts = new[] { whole.Length - 10, whole.Length + (png.Length / 2), full.Length - 6 };
        var answers = await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            var body = full[..cuts[i % cuts.Length]];
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
            var response = await host.Client.PostAsync("/v1/score", content);
            return (response, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        }));
        Assert.All(answers, a => AssertProblem(a.response, a.Item2, 400));

        using var ok = new ByteArrayContent(full);
        ok.Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        Assert.Equal(HttpStatusCode.OK, (await host.Client.PostAsync("/v1/score", ok)).StatusCode);
    }

    [Fact]
    public async Task OnlyRegularFilesAreReadUnderTheImageRoot()
    {
        using var root = TestPaths.TempDir("hps-root-");
        File.WriteAllBytes(root.File("ok.png"), TestImages.Png(8, 8, 1));
        Directory.CreateDirectory(root.File("folder.png"));
        File.WriteAllBytes(root.File("empty.png"), []);
        using (var mkfifo = Process.Start("mkfifo", root.File("fifo.png")))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { ImageRoot = root.Path, FileReadTimeoutMs = 2000 });
        var body = new { items = new[] { "ok.png", "fifo.png", "folder.png", "empty.png" }.Select(p => new { prompt = "p", path = p }).ToArray() };
        var sw = Stopwatch.StartNew();
        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => host.PostJsonAsync("/v1/score", body)));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
        foreach (var (status, result, _) in answers)
        {
            Assert.Equal(200, status);
            var r = result!["results"]!.AsArray();
            Assert.True(r[0]!["mu"] is not null, r[0]!.ToJsonString());
            Assert.Contains("not a regular file", (string)r[1]!["error"]!, StringComparison.Ordinal);
            Assert.Equal(400, (int)r[1]!["status"]!);
            Assert.NotNull(r[2]!["error"]);
            Assert.Contains("not a regular file", (string)r[3]!["error"]!, StringComparison.Ordinal);
        }
    }
}

/// <summary>
/// The abuse tests run alone: 240 MiB of concurrent uploads and a memory measurement must not share the two cores
/// (or the process's memory) with the other server tests, whose early-answered uploads they made flaky.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AbuseCollection
{
    public const string Name = "abuse (not parallel)";
}
