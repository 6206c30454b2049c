using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Server;
using Microsoft.AspNetCore.Builder;
using SkiaSharp;

namespace HpsSharp.Server.Tests;

/// <summary>A reward service on a free 127.0.0.1 port (real Kestrel), stopped on dispose.</summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private ServiceHost(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public static Task<ServiceHost> StartAsync(IScorer scorer, RewardServiceOptions? options = null) =>
        StartAsync(RewardService.Build(scorer, Loopback(options), l => { }));

    public static Task<ServiceHost> StartAsync(Func<CancellationToken, Task<IScorer>> load, RewardServiceOptions? options = null) =>
        StartAsync(RewardService.Build(load, Loopback(options), l => { }));

    private static RewardServiceOptions Loopback(RewardServiceOptions? options) =>
        (options ?? new RewardServiceOptions()) with { Urls = ["http://127.0.0.1:0"] };

    private static async Task<ServiceHost> StartAsync(WebApplication app)
    {
        await app.StartAsync();
        return new ServiceHost(app, new Uri(app.Addresses().Single()));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await App.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await App.DisposeAsync();
    }

    /// <summary>Waits (bounded) until the condition holds; fails the test with the description otherwise.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, int timeoutMs = 10_000)
    {
        for (int waited = 0; waited < timeoutMs; waited += 10)
        {
            if (condition())
            {
                return;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"timed out after {timeoutMs} ms waiting until {what}");
    }

    public async Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> PostJsonAsync(string path, object body, string? apiKey = null, CancellationToken ct = default)
    {
        using var content = new StringContent(body is string s ? s : JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (apiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        var response = await Client.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }
}

/// <summary>Small encoded test images made on the fly.</summary>
public static class TestImages
{
    public static byte[] Png(int width, int height, byte seed)
    {
        using var bmp = new SKBitmap(width, height);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                bmp.SetPixel(x, y, new SKColor((byte)(seed + x), (byte)(seed * 3 + y), (byte)(seed ^ (x + y))));
            }
        }

        using var image = SKImage.FromBitmap(bmp);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    public static string Base64(byte[] bytes) => Convert.ToBase64String(bytes);

    /// <summary>The μ the fake scorer gives an encoded image for a prompt.</summary>
    public static double FakeMu(string prompt, byte[] bytes) =>
        HpsSharp.Testing.FakeScorer.HashScore(new ScoreRequest(prompt, ImageInput.FromBytes(bytes))).Mu;
}
