using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed partial class ServeCommandTests
{
    [Fact]
    public async Task ServeListensScoresAndStopsCleanly()
    {
        using var modelDir = new TempDir();
        var stdout = new SyncWriter();
        var stderr = new SyncWriter();
        ScorerOptions? seen = null;
        var env = new CliEnvironment(stdout, stderr, interactive: false, o =>
        {
            seen = o;
            return new FakeScorer();
        });
        using var cts = new CancellationTokenSource();
        var run = CliApp.RunAsync(["serve", "--model", modelDir.Path, "--urls", "http://127.0.0.1:0", "--batch-size", "3", "--api-key", "k3y"], env, cts.Token);

        string url = string.Empty;
        for (int i = 0; i < 1000 && url.Length == 0; i++)
        {
            Assert.False(run.IsCompleted, "serve exited early: " + stderr.Text);
            var m = ListeningRegex().Match(stdout.Text);
            url = m.Success ? m.Groups[1].Value : string.Empty;
            await Task.Delay(10);
        }

        Assert.StartsWith("http://127.0.0.1:", url, StringComparison.Ordinal);
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(20) };
        for (int i = 0; i < 500 && (int)(await http.GetAsync("/readyz")).StatusCode != 200; i++)
        {
            await Task.Delay(10);
        }

        Assert.Equal(200, (int)(await http.GetAsync("/readyz")).StatusCode);
        Assert.Equal(new ScorerOptions(modelDir.Path, Precision.Bf16, DeviceSpec.Cpu, 3), seen);

        var image = Convert.ToBase64String(Enumerable.Range(0, 12).Select(i => (byte)i).ToArray());
        var body = JsonSerializer.Serialize(new { items = new[] { new { prompt = "p", rgb = image, width = 2, height = 2 } } });
        using var unauthorized = await http.PostAsync("/v1/score", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(401, (int)unauthorized.StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/score") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", "k3y");
        using var response = await http.SendAsync(request);
        Assert.Equal(200, (int)response.StatusCode);
        var mu = (double)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["results"]![0]!["mu"]!;
        Assert.Equal(FakeScorer.HashScore(new ScoreRequest("p", ImageInput.FromRgb(Convert.FromBase64String(image), 2, 2))).Mu, mu, 12);

        await cts.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("NOT the released HPSv3", stderr.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AModelThatFailsToLoadIsAUserError()
    {
        using var modelDir = new TempDir();
        var (code, _, err) = await CliHarness.RunAsync(
            _ => throw new UserInputException("--model", "no weights found"),
            "serve", "--model", modelDir.Path, "--urls", "http://127.0.0.1:0");
        Assert.Equal(1, code);
        Assert.Contains("no weights found", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadSettingsAreRefusedBeforeListening()
    {
        using var modelDir = new TempDir();
        var (missing, _, err1) = await CliHarness.RunAsync(_ => new FakeScorer(), "serve", "--model", modelDir.File("nope"));
        Assert.Equal(1, missing);
        Assert.Contains("--model", err1, StringComparison.Ordinal);
        var (tooMany, _, err2) = await CliHarness.RunAsync(_ => new FakeScorer(), "serve", "--model", modelDir.Path, "--queue-capacity", "4", "--max-items", "8");
        Assert.Equal(2, tooMany); // inconsistent settings are a usage error
        Assert.Contains("max items per request", err2, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningRegex();
}
