using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Cli.Tests;

/// <summary>
/// <c>--deterministic</c> with the tiny model in bf16: an image's score is bit-identical whether it is scored alone or
/// batched with images whose prompts pad it, through <c>hps score</c> and <c>hps serve</c>
/// (<c>hps eval</c> and the other scoring commands share the option and the loader that applies it).
/// </summary>
[Trait("Category", "Model")]
public sealed partial class DeterministicScoringTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The cat first, then images whose prompts are longer and shorter (so a batch pads the cat's sequence).</summary>
    private static readonly (string Prompt, string Image)[] Mixed =
    [
        ("a cat", "chelsea.png"),
        ("a white rocket on a launch pad at dusk with lightning towers and a deep blue sky, photographed at night", "rocket.jpg"),
        ("coins", "coins.png"),
        ("an astronaut portrait in an orange suit with a flag", "astronaut.png"),
    ];

    private string Manifest(int count)
    {
        var file = _dir.File($"m{count}.jsonl");
        File.WriteAllLines(file, Mixed.Take(count).Select(m => JsonSerializer.Serialize(new { prompt = m.Prompt, image = TestPaths.Image(m.Image) })));
        return file;
    }

    /// <summary>μ and log σ of the first item, as the exact doubles the JSON carries.</summary>
    private static async Task<(double Mu, double LogSigma, TimeSpan Took)> FirstScoreAsync(params string[] args)
    {
        var sw = Stopwatch.StartNew();
        var (code, stdout, stderr) = await CliHarness.RunAsync(args);
        Assert.True(code == 0, stderr);
        var first = JsonNode.Parse(stdout)!["results"]![0]!;
        return ((double)first["mu"]!, (double)first["log_sigma"]!, sw.Elapsed);
    }

    [Fact]
    public async Task ScoreIsBitIdenticalAloneOrBatched()
    {
        var model = TestPaths.TinyModelDir(_dir);
        var alone = await FirstScoreAsync("score", "--model", model, "--manifest", Manifest(1), "--json", "--deterministic");
        var batched = await FirstScoreAsync("score", "--model", model, "--manifest", Manifest(4), "--json", "--batch-size", "4", "--deterministic");
        var loose = await FirstScoreAsync("score", "--model", model, "--manifest", Manifest(4), "--json", "--batch-size", "4");
        log.WriteLine($"bf16 μ alone {alone.Mu:R}, batched with --deterministic {batched.Mu:R}, batched without {loose.Mu:R} (Δ {Math.Abs(loose.Mu - alone.Mu):E2})");
        Assert.Equal(BitConverter.DoubleToInt64Bits(alone.Mu), BitConverter.DoubleToInt64Bits(batched.Mu));
        Assert.Equal(BitConverter.DoubleToInt64Bits(alone.LogSigma), BitConverter.DoubleToInt64Bits(batched.LogSigma));
    }

    [Fact]
    public async Task ServiceScoreIsBitIdenticalAloneOrBatched()
    {
        var model = TestPaths.TinyModelDir(_dir);
        var output = new SyncWriter();
        var env = new CliEnvironment(output, new SyncWriter(), interactive: false);
        using var cts = new CancellationTokenSource();
        var run = CliApp.RunAsync(["serve", "--model", model, "--batch-size", "4", "--max-wait-ms", "50", "--deterministic", "--urls", "http://127.0.0.1:0"], env, cts.Token);
        try
        {
            string url = string.Empty;
            for (int i = 0; i < 3000 && url.Length == 0 && !run.IsCompleted; i++)
            {
                var m = ListeningRegex().Match(output.Text);
                url = m.Success ? m.Groups[1].Value : string.Empty;
                await Task.Delay(10);
            }

            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(120) };
            for (int i = 0; i < 6000 && (int)(await http.GetAsync("/readyz")).StatusCode != 200; i++)
            {
                await Task.Delay(10);
            }

            async Task<double> FirstMu(int count)
            {
                var items = Mixed.Take(count).Select(m => new { prompt = m.Prompt, image = Convert.ToBase64String(File.ReadAllBytes(TestPaths.Image(m.Image))) }).ToArray();
                using var response = await http.PostAsync("/v1/score", new StringContent(JsonSerializer.Serialize(new { items }), Encoding.UTF8, "application/json"));
                Assert.Equal(200, (int)response.StatusCode);
                return (double)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["results"]![0]!["mu"]!;
            }

            var alone = await FirstMu(1);
            var batched = await FirstMu(4);
            Assert.Equal(BitConverter.DoubleToInt64Bits(alone), BitConverter.DoubleToInt64Bits(batched));
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
