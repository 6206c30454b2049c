using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;

namespace HpsSharp.Annotation.Tests;

/// <summary>A client of the annotation API at a base address.</summary>
internal class AppHostClient(Uri baseAddress) : IDisposable
{
    public Uri BaseAddress { get; } = baseAddress;

    public HttpClient Client { get; } = new() { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public async Task<JsonNode?> NextAsync(string annotator)
    {
        using var r = await Client.GetAsync($"/api/next?annotator={Uri.EscapeDataString(annotator)}");
        return (int)r.StatusCode == 204 ? null : JsonNode.Parse(await r.EnsureSuccessStatusCode().Content.ReadAsStringAsync());
    }

    public Task<HttpResponseMessage> JudgeAsync(long pairId, string annotator, string choice, long ms = 500) =>
        Client.PostAsJsonAsync("/api/judgement", new { pair_id = pairId, annotator, choice, ms });

    public void Dispose() => Client.Dispose();
}

/// <summary>The annotation app on a free 127.0.0.1 port (real Kestrel), stopped on dispose.</summary>
internal sealed class AppHost : AppHostClient, IAsyncDisposable
{
    private AppHost(WebApplication app)
        : base(new Uri(app.Urls.Single()))
    {
        App = app;
    }

    public WebApplication App { get; }

    public static async Task<AppHost> StartAsync(AnnotationAppOptions options)
    {
        var app = AnnotationApp.Build(options, _ => { });
        await app.StartAsync();
        return new AppHost(app);
    }

    public async ValueTask DisposeAsync()
    {
        Dispose();
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
}
