using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using HpsSharp.Cohp.Generators;
using HpsSharp.Testing.Generators;
using Xunit;

namespace HpsSharp.Cohp.Tests;

[Trait("Category", "Integration")]
public sealed class A1111BackendTests
{
    [Fact]
    public async Task Txt2ImgSendsTheSpecSettingsAndReturnsTheServersImage()
    {
        using var server = new FakeA1111Server();
        var spec = TestSupport.A1111("sdxl", server.Url, 48) with
        {
            Steps = 12, Guidance = 4.5, Sampler = "Euler a", NegativePrompt = "blurry", Model = "sdxl.safetensors",
            Extra = new JsonObject { ["scheduler"] = "Karras", ["override_settings"] = new JsonObject { ["CLIP_stop_at_last_layers"] = 2 } },
        };
        using var gen = GeneratorFactory.Create(spec);
        var image = await gen.TextToImageAsync("a red fox", 1234);

        Assert.Equal("png", image.Extension);
        Assert.Equal(FakeImages.TextToImage("a red fox", 1234, 48, 48), image.Bytes);
        var req = Assert.Single(server.Requests);
        Assert.Equal(("txt2img", "a red fox", 1234L, 48, 48), (req.Operation, req.Prompt, req.Seed, req.Width, req.Height));
        var body = req.Body;
        Assert.Equal(12, body["steps"]!.GetValue<int>());
        Assert.Equal(4.5, body["cfg_scale"]!.GetValue<double>());
        Assert.Equal("Euler a", body["sampler_name"]!.GetValue<string>());
        Assert.Equal("blurry", body["negative_prompt"]!.GetValue<string>());
        Assert.Equal("Karras", body["scheduler"]!.GetValue<string>());
        Assert.Equal(1, body["batch_size"]!.GetValue<int>());
        Assert.Equal("sdxl.safetensors", body["override_settings"]!["sd_model_checkpoint"]!.GetValue<string>());
        Assert.Equal(2, body["override_settings"]!["CLIP_stop_at_last_layers"]!.GetValue<int>());
    }

    [Fact]
    public async Task Img2ImgSendsTheInitImageAndStrength()
    {
        using var server = new FakeA1111Server();
        using var gen = GeneratorFactory.Create(TestSupport.A1111("g", server.Url));
        var init = FakeImages.TextToImage("p", 1, 32, 32);
        var image = await gen.ImageToImageAsync("p", 77, init, 0.35);
        var req = Assert.Single(server.Requests);
        Assert.Equal(("img2img", 77L, 0.35), (req.Operation, req.Seed, req.Strength!.Value));
        Assert.Equal(init, req.InitImage);
        Assert.Equal(FakeImages.ImageToImage("p", 77, init, 0.35, 32, 32), image.Bytes);
    }

    [Fact]
    public async Task TransientFailuresAreRetriedWithBackoff()
    {
        using var server = new FakeA1111Server { Faults = r => r.Number <= 2 ? new FakeFault(503) : null };
        var spec = TestSupport.A1111("g", server.Url) with { Retries = 2 };
        using var gen = new A1111Generator(spec);
        var image = await gen.TextToImageAsync("p", 5);
        Assert.Equal(3, server.Requests.Count);
        Assert.Equal(3, gen.Attempts);
        Assert.Equal(FakeImages.TextToImage("p", 5, 32, 32), image.Bytes);
    }

    [Fact]
    public async Task GivingUpNamesTheBackendTheUrlAndTheLastError()
    {
        using var server = new FakeA1111Server { Faults = _ => new FakeFault(500, Message: "CUDA out of memory") };
        using var gen = new A1111Generator(TestSupport.A1111("sdxl", server.Url) with { Retries = 2 });
        var ex = await Assert.ThrowsAsync<GeneratorException>(() => gen.TextToImageAsync("p", 5));
        Assert.Equal(3, server.Requests.Count);
        Assert.Equal("sdxl", ex.Generator);
        Assert.Contains("generator 'sdxl' (" + server.Url, ex.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 500", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CUDA out of memory", ex.Message, StringComparison.Ordinal);
        Assert.Contains("gave up after 3 attempts", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientErrorsAreNotRetried()
    {
        using var server = new FakeA1111Server { Faults = _ => new FakeFault(422, Message: "unknown sampler") };
        using var gen = new A1111Generator(TestSupport.A1111("g", server.Url) with { Retries = 3 });
        var ex = await Assert.ThrowsAsync<GeneratorException>(() => gen.ImageToImageAsync("p", 5, FakeImages.TextToImage("p", 1, 32, 32), 0.5));
        Assert.Single(server.Requests);
        Assert.Equal("img2img", ex.Operation);
        Assert.Contains("HTTP 422", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASlowServerTimesOutAndIsRetried()
    {
        // The retry must answer within the timeout on a loaded CI machine (first request: JIT, connection), so 2 s.
        using var server = new FakeA1111Server { Faults = r => r.Number == 1 ? new FakeFault(0, TimeSpan.FromSeconds(10)) : null };
        using var gen = new A1111Generator(TestSupport.A1111("g", server.Url) with { Timeout = TimeSpan.FromSeconds(2), Retries = 1 });
        var image = await gen.TextToImageAsync("p", 9);
        Assert.Equal(2, server.Requests.Count);
        Assert.Equal("png", image.Extension);

        using var gen2 = new A1111Generator(TestSupport.A1111("slow", server.Url) with { Timeout = TimeSpan.FromMilliseconds(200), Retries = 0 });
        server.Faults = _ => new FakeFault(0, TimeSpan.FromSeconds(5));
        var ex = await Assert.ThrowsAsync<GeneratorException>(() => gen2.TextToImageAsync("p", 9));
        Assert.Contains("no answer within 0.2 s", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreachableServerIsReportedAfterRetries()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        using var gen = new A1111Generator(TestSupport.A1111("gone", $"http://127.0.0.1:{port}") with { Retries = 1 });
        var ex = await Assert.ThrowsAsync<GeneratorException>(() => gen.TextToImageAsync("p", 1));
        Assert.Contains("cannot reach the server", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, gen.Attempts);
    }

    [Fact]
    public async Task CancellationIsNotTurnedIntoARetry()
    {
        using var server = new FakeA1111Server { Faults = _ => new FakeFault(0, TimeSpan.FromSeconds(5)) };
        using var gen = new A1111Generator(TestSupport.A1111("g", server.Url) with { Retries = 3 });
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gen.TextToImageAsync("p", 1, cts.Token));
        Assert.Equal(1, gen.Attempts);
    }
}

[Trait("Category", "Integration")]
public sealed class ComfyUiBackendTests
{
    [Fact]
    public async Task Txt2ImgQueuesTheFilledWorkflowPollsHistoryAndFetchesTheImage()
    {
        using var server = new FakeComfyUiServer { PendingPolls = 3 };
        using var gen = GeneratorFactory.Create(TestSupport.Comfy("flux", server.Url, 40) with { NegativePrompt = "ugly" });
        var image = await gen.TextToImageAsync("a lighthouse", 4242);
        Assert.Equal(FakeImages.TextToImage("a lighthouse", 4242, 40, 40), image.Bytes);
        var req = Assert.Single(server.Requests);
        Assert.Equal(("txt2img", "a lighthouse", 4242L, 40, 40), (req.Operation, req.Prompt, req.Seed, req.Width, req.Height));
        Assert.Equal("ugly", req.Body["7"]!["inputs"]!["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task Img2ImgUploadsTheInitImageAndSetsDenoiseToTheStrength()
    {
        using var server = new FakeComfyUiServer();
        using var gen = GeneratorFactory.Create(TestSupport.Comfy("flux", server.Url));
        var init = FakeImages.TextToImage("p", 3, 32, 32);
        var image = await gen.ImageToImageAsync("p", 11, init, 0.8);
        var req = Assert.Single(server.Requests);
        Assert.Equal(("img2img", 11L, 0.8), (req.Operation, req.Seed, req.Strength!.Value));
        Assert.Equal(init, req.InitImage);
        Assert.Single(server.Uploads);
        Assert.Equal(FakeImages.ImageToImage("p", 11, init, 0.8, 32, 32), image.Bytes);
    }

    [Fact]
    public async Task AnExecutionErrorOnTheServerIsReportedWithItsMessage()
    {
        using var server = new FakeComfyUiServer { Faults = _ => new FakeFault(ExecutionError: true, Message: "Allocation on device failed") };
        using var gen = GeneratorFactory.Create(TestSupport.Comfy("flux", server.Url));
        var ex = await Assert.ThrowsAsync<GeneratorException>(() => gen.TextToImageAsync("p", 1));
        Assert.Contains("workflow failed on the server: KSampler: Allocation on device failed", ex.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests); // not retried: the same workflow would fail again
    }

    [Fact]
    public async Task ARejectedWorkflowIsReportedWithTheServersError()
    {
        using var server = new FakeComfyUiServer();
        var bad = (System.Text.Json.Nodes.JsonObject)JsonNode.Parse("""{"1": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "seed": "{{seed}}"}}}""")!;
        using var gen = GeneratorFactory.Create(TestSupport.Comfy("flux", server.Url) with { Workflow = bad });
        var ex = await Assert.ThrowsAsync<GeneratorException>(() => gen.TextToImageAsync("p", 1));
        Assert.Contains("/prompt answered HTTP 400", ex.Message, StringComparison.Ordinal);
        Assert.Contains("KSampler and a SaveImage", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheConfiguredOutputNodeMustProduceAnImage()
    {
        using var server = new FakeComfyUiServer();
        using var gen = GeneratorFactory.Create(TestSupport.Comfy("flux", server.Url) with { OutputNode = "42" });
        var ex = await Assert.ThrowsAsync<GeneratorException>(() => gen.TextToImageAsync("p", 1));
        Assert.Contains("output node '42' produced no image (nodes with images: 9)", ex.Message, StringComparison.Ordinal);
    }
}
