using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Server.Tests;

[Trait("Category", "Integration")]
public sealed class LimitsAndAuthTests
{
    private static readonly string Png = TestImages.Base64(TestImages.Png(10, 10, 3));

    private static object Items(int n, string image) => new { items = Enumerable.Range(0, n).Select(i => new { prompt = "p", image }).ToArray() };

    private static void AssertProblem(HttpResponseMessage response, JsonNode? body, int status, string? limit)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(status, (int)body!["status"]!);
        if (limit is not null)
        {
            Assert.Equal(limit, (string)body["limit"]!);
            Assert.Contains(limit, (string)body["detail"]!, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task MalformedJsonIsA400Problem()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var (_, body, response) = await host.PostJsonAsync("/v1/score", "{\"items\": [");
        AssertProblem(response, body, 400, null);
        Assert.Equal("malformed JSON", (string)body!["title"]!);
        var (_, body2, response2) = await host.PostJsonAsync("/v1/score", "{\"things\": []}");
        AssertProblem(response2, body2, 400, null);
        Assert.Contains("items", (string)body2!["detail"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TooManyItemsIs413NamingTheLimit()
    {
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxItemsPerRequest = 3 });
        var (_, body, response) = await host.PostJsonAsync("/v1/score", Items(4, Png));
        AssertProblem(response, body, 413, "max_items");
        Assert.Equal(3, (int)body!["max"]!);
        var (rank, rankBody, rankResponse) = await host.PostJsonAsync("/v1/rank", new { prompt = "p", images = Enumerable.Repeat(Png, 4) });
        AssertProblem(rankResponse, rankBody, 413, "max_items");
        Assert.Equal(0, scorer.Items);
        Assert.Equal(200, (await host.PostJsonAsync("/v1/score", Items(3, Png))).Status);
    }

    [Fact]
    public async Task OversizedBodyIs413NamingTheLimit()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxRequestBodyBytes = 4096 });
        var big = TestImages.Base64(new byte[8000]);
        var (_, body, response) = await host.PostJsonAsync("/v1/score", Items(1, big));
        AssertProblem(response, body, 413, "max_request_body_bytes");

        // Without Content-Length (chunked), the limit is enforced while reading.
        var json = System.Text.Json.JsonSerializer.Serialize(Items(1, big));
        await AssertChunkedIs413(host, new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)));
    }

    private static async Task AssertChunkedIs413(ServiceHost host, Stream body)
    {
        using var content = new StreamContent(body, 8192);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/score") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await host.Client.SendAsync(request);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync());
        AssertProblem(response, problem, 413, "max_request_body_bytes");
    }

    [Fact]
    public async Task ClientStillSendingAnOversizedBodyReadsThe413()
    {
        // The service refuses after 4 KiB while this client keeps sending 2 MiB in 256 chunks: the rest of the body is
        // drained, not cut off, so the client finishes and reads the answer (it used to see a broken pipe or a reset).
        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxRequestBodyBytes = 4096 });
        for (int round = 0; round < 3; round++)
        {
            await AssertChunkedIs413(host, new ChunkedJson(256, 8192));
        }

        // The connection is still usable for an ordinary request afterwards.
        Assert.Equal(200, (await host.PostJsonAsync("/v1/score", Items(1, Png))).Status);
    }

    /// <summary>A JSON body whose one string runs over <c>chunks</c> reads of <c>chunkSize</c> bytes, each yielding first.</summary>
    private sealed class ChunkedJson(int chunks, int chunkSize) : Stream
    {
        private int _sent;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Fill(buffer.AsSpan(offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            return Fill(buffer.Span);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Fill(Span<byte> buffer)
        {
            if (_sent > chunks)
            {
                return 0;
            }

            var text = _sent == 0 ? "{\"items\": [{\"prompt\": \"p\", \"image\": \"" : _sent == chunks ? "\"}]}" : new string('A', Math.Min(chunkSize, buffer.Length));
            _sent++;
            return System.Text.Encoding.ASCII.GetBytes(text, buffer);
        }
    }

    [Fact]
    public async Task ImageOverThePixelLimitIsRefusedFromItsHeader()
    {
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxDecodedPixels = 50 * 50 });
        var (_, body, response) = await host.PostJsonAsync("/v1/score", new
        {
            items = new[]
            {
                new { prompt = "p", image = Png },
                new { prompt = "p", image = TestImages.Base64(TestImages.Png(60, 50, 1)) },
            },
        });
        AssertProblem(response, body, 400, "max_decoded_pixels");
        Assert.Contains("items[1]", (string)body!["detail"]!, StringComparison.Ordinal);
        Assert.Contains("60x50", (string)body["detail"]!, StringComparison.Ordinal);
        Assert.Equal(0, scorer.Items);

        var (_, rgbBody, rgbResponse) = await host.PostJsonAsync("/v1/score", new
        {
            items = new[] { new { prompt = "p", rgb = "AAAA", width = 100000, height = 100000 } },
        });
        AssertProblem(rgbResponse, rgbBody, 400, "max_decoded_pixels");
    }

    [Fact]
    public async Task ApiKeyIsRequiredExceptOnProbes()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { ApiKey = "s3cret" });
        var (_, body, response) = await host.PostJsonAsync("/v1/score", Items(1, Png));
        AssertProblem(response, body, 401, null);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(401, (await host.PostJsonAsync("/v1/score", Items(1, Png), apiKey: "wrong")).Status);
        Assert.Equal(401, (int)(await host.Client.GetAsync("/metrics")).StatusCode);
        Assert.Equal(401, (int)(await host.Client.GetAsync("/openapi.json")).StatusCode);

        Assert.Equal(200, (await host.PostJsonAsync("/v1/score", Items(1, Png), apiKey: "s3cret")).Status);
        Assert.Equal(200, (int)(await host.Client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(200, (int)(await host.Client.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task LocalPathsAreReadOnlyUnderTheConfiguredRoot()
    {
        using var root = new TempDir();
        using var outside = new TempDir();
        var png = TestImages.Png(5, 5, 9);
        Directory.CreateDirectory(Path.Combine(root.Path, "sub"));
        File.WriteAllBytes(Path.Combine(root.Path, "sub", "a.png"), png);
        File.WriteAllBytes(outside.File("secret.png"), png);
        File.CreateSymbolicLink(Path.Combine(root.Path, "link.png"), outside.File("secret.png"));
        Directory.CreateSymbolicLink(Path.Combine(root.Path, "dirlink"), outside.Path);

        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { ImageRoot = root.Path });
        string escape = Path.GetRelativePath(root.Path, outside.File("secret.png"));
        var paths = new[] { "sub/a.png", escape, outside.File("secret.png"), "link.png", "dirlink/secret.png", "sub/missing.png", "sub/../sub/a.png", Path.Combine(root.Path, "sub", "a.png") };
        var (status, body, _) = await host.PostJsonAsync("/v1/score", new { items = paths.Select(p => new { prompt = "p", path = p }).ToArray() });
        Assert.Equal(200, status);
        var r = body!["results"]!.AsArray();
        Assert.Equal(TestImages.FakeMu("p", png), (double)r[0]!["mu"]!, 12);
        Assert.Contains("leaves the image root", (string)r[1]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("absolute and not under the image root", (string)r[2]!["error"]!, StringComparison.Ordinal);
        Assert.DoesNotContain(root.Path, (string)r[1]!["error"]!, StringComparison.Ordinal); // the server's own folders are never named
        Assert.DoesNotContain(root.Path, (string)r[2]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("link", (string)r[3]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("link", (string)r[4]!["error"]!, StringComparison.Ordinal);
        Assert.Contains("no file", (string)r[5]!["error"]!, StringComparison.Ordinal);
        Assert.Equal(TestImages.FakeMu("p", png), (double)r[6]!["mu"]!, 12);
        Assert.Equal(TestImages.FakeMu("p", png), (double)r[7]!["mu"]!, 12); // absolute, under the root: one policy with datasets
    }
}
