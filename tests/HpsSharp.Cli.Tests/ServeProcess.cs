using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>A running <c>hps serve</c> on a free loopback port, stopped on dispose.</summary>
internal sealed partial class ServeProcess : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private Task<int> _run = Task.FromResult(0);
    private HttpClient _http = new();

    public static async Task<ServeProcess> StartAsync(string[] args)
    {
        var s = new ServeProcess();
        var output = new SyncWriter();
        var error = new SyncWriter();
        s._run = CliApp.RunAsync(["serve", .. args, "--urls", "http://127.0.0.1:0"], new CliEnvironment(output, error, interactive: false), s._cts.Token);
        string url = string.Empty;
        for (int i = 0; i < 3000 && url.Length == 0 && !s._run.IsCompleted; i++)
        {
            var m = ListeningRegex().Match(output.Text);
            url = m.Success ? m.Groups[1].Value : string.Empty;
            await Task.Delay(10);
        }

        Assert.True(url.Length > 0, "serve did not start: " + error.Text);
        s._http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };
        for (int i = 0; i < 6000 && (int)(await s._http.GetAsync("/readyz")).StatusCode != 200; i++)
        {
            Assert.False(s._run.IsCompleted, "serve exited while loading: " + error.Text);
            await Task.Delay(10);
        }

        return s;
    }

    public async Task<(int Status, JsonNode? Body)> PostAsync(string path, object body)
    {
        using var response = await _http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async Task<(int Status, JsonNode? Body)> GetAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        await _run;
        _http.Dispose();
        _cts.Dispose();
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningRegex();
}
