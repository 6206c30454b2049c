using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>
/// <c>hps serve</c> with the real scorer and the tiny random HPSv3 fixture: the service's scores equal
/// <c>hps score</c>'s for the same images and prompts, through JSON, multipart and the compare/rank endpoints.
/// </summary>
[Trait("Category", "Model")]
public sealed partial class ServeTinyModelTests
{
    private static readonly string[] Images = ["chelsea.png", "rocket.jpg", "coins.png"];

    [Fact]
    public async Task ServiceScoresEqualOfflineScores()
    {
        using var dir = new TempDir();
        var model = TestPaths.TinyModelDir(dir);
        var paths = Images.Select(TestPaths.Image).ToArray();
        const string prompt = "a photo";

        var (code, stdout, stderr) = await CliHarness.RunAsync(["score", "--model", model, "--dtype", "fp32", "--batch-size", "2", "--json", "--prompt", prompt, .. paths]);
        Assert.True(code == 0, stderr);
        var offline = JsonNode.Parse(stdout)!["results"]!.AsArray().Select(r => (double)r!["mu"]!).ToArray();

        var output = new SyncWriter();
        var env = new CliEnvironment(output, new SyncWriter(), interactive: false);
        using var cts = new CancellationTokenSource();
        var run = CliApp.RunAsync(["serve", "--model", model, "--dtype", "fp32", "--batch-size", "2", "--urls", "http://127.0.0.1:0"], env, cts.Token);
        try
        {
            string url = string.Empty;
            for (int i = 0; i < 3000 && url.Length == 0 && !run.IsCompleted; i++)
            {
                var m = ListeningRegex().Match(output.Text);
                url = m.Success ? m.Groups[1].Value : string.Empty;
                await Task.Delay(10);
            }

            Assert.StartsWith("http://127.0.0.1:", url, StringComparison.Ordinal);
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };
            for (int i = 0; i < 6000 && (int)(await http.GetAsync("/readyz")).StatusCode != 200; i++)
            {
                Assert.False(run.IsCompleted, "serve exited while loading the model");
                await Task.Delay(10);
            }

            var items = paths.Select(p => new { prompt, image = Convert.ToBase64String(File.ReadAllBytes(p)) }).ToList<object>();
            items.Add(new { prompt, image = Convert.ToBase64String(Encoding.ASCII.GetBytes("definitely not an image")) });
            using var response = await http.PostAsync("/v1/score", new StringContent(JsonSerializer.Serialize(new { items }), Encoding.UTF8, "application/json"));
            Assert.Equal(200, (int)response.StatusCode);
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            var results = body["results"]!.AsArray();
            for (int i = 0; i < paths.Length; i++)
            {
                Assert.Equal(offline[i], (double)results[i]!["mu"]!, 5);
            }

            Assert.Equal(400, (int)results[3]!["status"]!);
            Assert.False((bool)body["model"]!["released_hpsv3"]!);

            using var form = new MultipartFormDataContent();
            for (int i = 0; i < paths.Length; i++)
            {
                form.Add(new StringContent(prompt), $"prompt[{i}]");
                form.Add(new ByteArrayContent(File.ReadAllBytes(paths[i])), $"image[{i}]", Images[i]);
            }

            using var multipart = await http.PostAsync("/v1/score", form);
            var mres = JsonNode.Parse(await multipart.Content.ReadAsStringAsync())!["results"]!.AsArray();
            for (int i = 0; i < paths.Length; i++)
            {
                Assert.Equal(offline[i], (double)mres[i]!["mu"]!, 5);
            }

            var rankBody = JsonSerializer.Serialize(new { prompt, images = paths.Select(p => Convert.ToBase64String(File.ReadAllBytes(p))) });
            using var rank = await http.PostAsync("/v1/rank", new StringContent(rankBody, Encoding.UTF8, "application/json"));
            var order = JsonNode.Parse(await rank.Content.ReadAsStringAsync())!["order"]!.AsArray().Select(n => (int)n!).ToArray();
            Assert.Equal(Enumerable.Range(0, 3).OrderByDescending(i => offline[i]).ThenBy(i => i), order);
        }
        finally
        {
            await cts.CancelAsync();
            Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(60)));
        }
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningRegex();
}
