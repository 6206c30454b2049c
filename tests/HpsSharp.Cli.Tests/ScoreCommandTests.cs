using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class ScoreCommandTests
{
    private static readonly Func<ScorerOptions, IScorer> Fake = _ => new FakeScorer();

    private static string ModelDir(TempDir dir)
    {
        var m = Path.Combine(dir.Path, "model");
        Directory.CreateDirectory(m);
        return m;
    }

    [Fact]
    public async Task ScoreJsonHasTheContractShapeInInputOrder()
    {
        using var dir = TestPaths.TempDir();
        var a = TestPaths.Image("chelsea.png");
        var b = TestPaths.Image("rocket.jpg");
        var (code, stdout, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--prompt", "a cat", "--json", a, b);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal([a, b], results.Select(r => r.GetProperty("image").GetString()));
        foreach (var r in results)
        {
            var expected = FakeScorer.HashScore(new ScoreRequest("a cat", ImageInput.FromPath(r.GetProperty("image").GetString()!)));
            Assert.Equal(expected.Mu, r.GetProperty("mu").GetDouble());
            Assert.Equal(0, r.GetProperty("log_sigma").GetDouble());
            Assert.Equal(1, r.GetProperty("sigma").GetDouble());
            Assert.Equal("a cat", r.GetProperty("prompt").GetString());
        }

        Assert.False(doc.RootElement.GetProperty("model").GetProperty("released_hpsv3").GetBoolean());
        Assert.Contains("NOT the released HPSv3", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ManifestPathsAreRelativeToTheManifestAndFailedItemsCarryErrors()
    {
        using var dir = TestPaths.TempDir();
        File.Copy(TestPaths.Image("coins.png"), dir.File("coins.png"));
        File.WriteAllBytes(dir.File("empty.png"), []);
        File.WriteAllText(dir.File("m.jsonl"), "{\"prompt\":\"coins\",\"image\":\"coins.png\"}\n\n{\"prompt\":\"nothing\",\"image\":\"empty.png\"}\n");
        var (code, stdout, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--manifest", dir.File("m.jsonl"), "--json");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(stdout);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, results.Count);
        Assert.True(results[0].TryGetProperty("mu", out _));
        Assert.Contains("empty", results[1].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains("1 of 2", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadManifestLineIsAUserErrorNamingTheLine()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("m.jsonl"), "{\"prompt\":\"x\",\"image\":\"a.png\"}\n{\"prompt\": 3}\n");
        var (code, stdout, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--manifest", dir.File("m.jsonl"));
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("m.jsonl:2", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FolderWithSidecarsUsesTheirPromptsAndCsvOutput()
    {
        using var dir = TestPaths.TempDir();
        var folder = Path.Combine(dir.Path, "imgs");
        Directory.CreateDirectory(folder);
        File.Copy(TestPaths.Image("coins.png"), Path.Combine(folder, "x.png"));
        File.WriteAllText(Path.Combine(folder, "x.txt"), "old coins\n");
        var (code, stdout, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--csv", folder);
        Assert.True(code == 0, stderr);
        var lines = stdout.Trim().Split('\n');
        Assert.Equal("image,prompt,mu,log_sigma,sigma,error", lines[0]);
        Assert.Contains("\"old coins\"", lines[1], StringComparison.Ordinal);

        File.Copy(TestPaths.Image("coins.png"), Path.Combine(folder, "y.png"));
        (code, _, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), folder);
        Assert.Equal(1, code);
        Assert.Contains("y.png", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingImageOrModelAreUserErrorsAndBadDtypeIsUsage()
    {
        using var dir = TestPaths.TempDir();
        var (code, _, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--prompt", "p", dir.File("nope.png"));
        Assert.Equal(1, code);
        Assert.Contains("nope.png", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", dir.File("no-model"), "--prompt", "p", TestPaths.Image("coins.png"));
        Assert.Equal(1, code);
        Assert.Contains("--model", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--dtype", "fp16", "--prompt", "p", TestPaths.Image("coins.png"));
        Assert.Equal(2, code);
        Assert.Contains("--dtype: unknown value 'fp16' (expected bf16 or fp32)", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await CliHarness.RunAsync(Fake, "score", "--model", ModelDir(dir), "--device", "gpu", "--prompt", "p", TestPaths.Image("coins.png"));
        Assert.Equal(2, code);
        Assert.Contains("--device: must be cpu or cuda[:N] (got 'gpu')", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new string[0], Precision.Bf16, "cpu")]
    [InlineData(new[] { "--dtype", "fp32", "--device", "cuda" }, Precision.Fp32, "cuda")]
    [InlineData(new[] { "--dtype", "BFloat16", "--device", "cuda:1" }, Precision.Bf16, "cuda:1")]
    public async Task DtypeAndDeviceReachTheLoaderParsedThroughTheOneSpelling(string[] flags, Precision dtype, string device)
    {
        // Scoring commands read the words hps train and its config files read (aliases, cuda:N), once, into Core's types.
        using var dir = TestPaths.TempDir();
        ScorerOptions? seen = null;
        var (code, _, stderr) = await CliHarness.RunAsync(o => { seen = o; return new FakeScorer(); }, ["score", "--model", ModelDir(dir), .. flags, "--prompt", "p", TestPaths.Image("coins.png")]);
        Assert.True(code == 0, stderr);
        Assert.Equal(dtype, seen!.Dtype);
        Assert.Equal(DeviceSpec.Parse(device), seen.Device);
    }

    [Fact]
    public async Task CompareAndRankUseTheScores()
    {
        using var dir = TestPaths.TempDir();
        var mus = new Dictionary<string, double> { ["chelsea.png"] = 2, ["coins.png"] = 0, ["rocket.jpg"] = 1 };
        Func<ScorerOptions, IScorer> loader = _ => new FakeScorer(r => new Score(mus[Path.GetFileName(r.Image.Name)], 0));
        var imgs = mus.Keys.Select(TestPaths.Image).ToArray();
        var (code, stdout, stderr) = await CliHarness.RunAsync(loader, ["rank", "--model", ModelDir(dir), "--prompt", "p", "--json", .. imgs]);
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal([0, 2, 1], doc.RootElement.GetProperty("order").EnumerateArray().Select(e => e.GetInt32()));
        }

        (code, stdout, stderr) = await CliHarness.RunAsync(loader, "compare", "--model", ModelDir(dir), "--prompt", "p", "--json", imgs[0], imgs[1]);
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            double p = doc.RootElement.GetProperty("p_a_over_b").GetDouble();
            Assert.Equal(Preference.ProbabilityAOverB(new Score(2, 0), new Score(0, 0)), p, 12);
            Assert.InRange(p, 0.8, 0.9); // μ gap 2 with σ = 1 each: sigmoid softened by the uncertainty
            Assert.Equal(2, doc.RootElement.GetProperty("a").GetProperty("mu").GetDouble());
        }
    }

    [Fact]
    public async Task NonFiniteScoresAreAnErrorForThatItemAsNullAndError()
    {
        using var dir = TestPaths.TempDir();
        var a = TestPaths.Image("chelsea.png");
        var b = TestPaths.Image("rocket.jpg");
        var c = TestPaths.Image("coins.png");
        IScorer Diverged(ScorerOptions _) => new FakeScorer(r => r.Image.Name == a ? new Score(double.NaN, 0) : r.Image.Name == b ? new Score(1, double.PositiveInfinity) : new Score(0.5, 0.1));
        var (code, stdout, stderr) = await CliHarness.RunAsync(Diverged, "score", "--model", ModelDir(dir), "--prompt", "a cat", "--json", a, b, c);
        Assert.Equal(CliApp.UserError, code);
        Assert.Contains("2 of 3 image(s) could not be scored", stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        foreach (var r in results.Take(2))
        {
            Assert.Equal(JsonValueKind.Null, r.GetProperty("mu").ValueKind);
            Assert.Equal(JsonValueKind.Null, r.GetProperty("log_sigma").ValueKind);
            Assert.Contains("non-finite score", r.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(0.5, results[2].GetProperty("mu").GetDouble());
        Assert.False(results[2].TryGetProperty("error", out _));

        // The rank command shares the writer: a NaN never reaches the serializer there either.
        (code, stdout, _) = await CliHarness.RunAsync(Diverged, "rank", "--model", ModelDir(dir), "--prompt", "a cat", "--json", a, c);
        Assert.Equal(CliApp.UserError, code);
        using var ranked = JsonDocument.Parse(stdout);
        Assert.Equal([1], ranked.RootElement.GetProperty("order").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(JsonValueKind.Null, ranked.RootElement.GetProperty("results")[0].GetProperty("mu").ValueKind);
    }
}
