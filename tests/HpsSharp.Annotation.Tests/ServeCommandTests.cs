using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using HpsSharp.Core;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Annotation.Tests;

/// <summary><c>hps annotate serve</c> in-process: the model options reach the scorer loader, and the served order follows its uncertainty.</summary>
[Trait("Category", "Integration")]
public sealed partial class ServeCommandTests
{
    [Fact]
    public async Task ServeWithAModelOrdersByUncertaintyAndStopsCleanly()
    {
        using var ws = new Workspace(pairs: 6, gold: 1);
        using var modelDir = new TempDir();
        var stdout = new SyncWriter();
        var stderr = new SyncWriter();
        ScorerOptions? seen = null;
        var mu = new Dictionary<string, double> { ["coins.png"] = 3, ["text.png"] = 0, ["camera.png"] = 0.2, ["rocket.jpg"] = -3, ["chelsea.png"] = 1, ["retina.jpg"] = 5 };
        var env = new CliEnvironment(stdout, stderr, interactive: false, o =>
        {
            seen = o;
            return new FakeScorer(r => new Score(mu[Path.GetFileName(r.Image.Name)], 0));
        });
        using var cts = new CancellationTokenSource();
        var run = CliApp.RunAsync(
            ["annotate", "serve", "--pairs", ws.PairsFile, "--images", ws.Images, "--db", ws.Db, "--gold", ws.GoldFile, "--gold-rate", "0",
             "--model", modelDir.Path, "--dtype", "fp32", "--batch-size", "3", "--cache", ws.File("cache.sqlite"), "--urls", "http://127.0.0.1:0"],
            env, cts.Token);

        for (int i = 0; i < 2000 && !stdout.Text.Contains("model order ready", StringComparison.Ordinal); i++)
        {
            Assert.False(run.IsCompleted, "serve exited early: " + stderr.Text + stdout.Text);
            await Task.Delay(10);
        }

        string url = ListeningRegex().Match(stdout.Text).Groups[1].Value;
        Assert.StartsWith("http://127.0.0.1:", url, StringComparison.Ordinal);
        Assert.Equal(new ScorerOptions(modelDir.Path, Precision.Fp32, DeviceSpec.Cpu, 3), seen);
        Assert.Contains("order: model uncertainty, then fewest judgements", stderr.Text, StringComparison.Ordinal);
        Assert.Contains("NOT the released HPSv3", stderr.Text, StringComparison.Ordinal);

        using var api = new AppHostClient(new Uri(url));
        Assert.Equal(1, (long)(await api.NextAsync("a"))!["pair_id"]!); // text (0) vs camera (0.2)
        Assert.Equal(HttpStatusCode.OK, (await api.JudgeAsync(1, "a", "left")).StatusCode);

        await cts.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(30)));
        using var store = AnnotationStore.Open(ws.Db, create: false);
        Assert.Single(store.Judgements());
        using var cache = new HpsSharp.Evaluation.ScoreCache(ws.File("cache.sqlite"));
        Assert.Equal(12, cache.Count); // both images of the six ordinary pairs, each under its pair's prompt; gold is not scored
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningRegex();
}
