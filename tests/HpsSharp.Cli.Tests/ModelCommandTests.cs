using System.Text;
using System.Text.Json;
using HpsSharp.Hub;
using HpsSharp.Hub.Tests;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class ModelCommandTests : IAsyncLifetime
{
    private const string HpsCommit = "1111111111111111111111111111111111111111";
    private const string QwenCommit = "2222222222222222222222222222222222222222";

    private FakeHub _hub = null!;
    private readonly TempDir _tmp = new("hps-cli-model-");

    public async Task InitializeAsync() => _hub = await FakeHub.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        _tmp.Dispose();
    }

    private byte[] Publish()
    {
        var weights = new byte[123_456];
        new Random(5).NextBytes(weights);
        _hub.Add(ModelDownloader.HpsRepo, "HPSv3.safetensors", weights, lfs: true, HpsCommit);
        foreach (var name in ModelDownloader.RequiredBaseFiles.Concat(ModelDownloader.TokenizerFiles).Concat(ModelDownloader.OptionalBaseFiles))
        {
            _hub.Add(ModelDownloader.QwenRepo, name, Encoding.UTF8.GetBytes($"{{\"name\": \"{name}\"}}"), lfs: false, QwenCommit);
        }

        return weights;
    }

    private string[] DownloadArgs(params string[] extra) =>
        ["model", "download", "--endpoint", _hub.Endpoint, "--cache-dir", Path.Combine(_tmp.Path, "hub"), .. extra];

    [Fact]
    public async Task DownloadPrintsTheModelFolderAsItsLastLine()
    {
        var weights = Publish();
        var outDir = Path.Combine(_tmp.Path, "model");

        var (code, stdout, stderr) = await CliHarness.RunAsync(DownloadArgs("--out", outDir));

        Assert.True(code == 0, stderr);
        Assert.Equal(outDir, stdout.TrimEnd('\n').Split('\n')[^1]);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(outDir, "HPSv3.safetensors")));
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer.json")));
        Assert.Contains("HPSv3.safetensors", stderr, StringComparison.Ordinal);
        Assert.Contains("downloaded", stderr, StringComparison.Ordinal);

        var (code2, stdout2, stderr2) = await CliHarness.RunAsync(DownloadArgs("--out", outDir, "--json"));
        Assert.Equal(0, code2);
        using var doc = JsonDocument.Parse(stdout2);
        Assert.Equal(outDir, doc.RootElement.GetProperty("model_dir").GetString());
        Assert.All(doc.RootElement.GetProperty("files").EnumerateArray(), f => Assert.False(f.GetProperty("downloaded").GetBoolean()));
        Assert.Contains("in cache", stderr2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DownloadWithABadTokenIsAOneLineUserError()
    {
        Publish();
        _hub.RequiredToken = "hf_right";

        var (code, stdout, stderr) = await CliHarness.RunAsync(DownloadArgs("--token", "hf_wrong"));

        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("error:", stderr, StringComparison.Ordinal);
        Assert.Contains("token was rejected", stderr, StringComparison.Ordinal);
        Assert.Contains("401", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DownloadSurvivesADroppedConnection()
    {
        var weights = Publish();
        _hub.CdnHost = "127.0.0.1";
        var f = _hub.Add(ModelDownloader.HpsRepo, "HPSv3.safetensors", weights, lfs: true, HpsCommit);
        f.DropCount = 1;
        f.DropAfter = 50_000;
        var outDir = Path.Combine(_tmp.Path, "model");

        var (code, _, stderr) = await CliHarness.RunAsync(DownloadArgs("--out", outDir));

        Assert.True(code == 0, stderr);
        Assert.Contains("retrying", stderr, StringComparison.Ordinal);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(outDir, "HPSv3.safetensors")));

        // Resumed, not restarted: the second transfer asked for the bytes after what had arrived, and got a 206.
        var gets = _hub.Requests.Where(r => r.Method == "GET" && r.Path == "/cdn/" + f.Sha256).ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.Matches("^bytes=[1-9][0-9]*-$", gets[1].Range);
        Assert.InRange(long.Parse(gets[1].Range![6..^1], System.Globalization.CultureInfo.InvariantCulture), 1, 50_000);
        Assert.Contains(_hub.PartialResponses, p => p.Range == gets[1].Range);
    }

    [Fact]
    public async Task InspectJsonOnTheTinyFixture()
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync("model", "inspect", TestPaths.Fixture("hpsv3-tiny"), "--json");

        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal("flat", r.GetProperty("layout").GetString());
        Assert.Equal("hpsv3", r.GetProperty("architecture").GetProperty("kind").GetString());
        Assert.False(r.GetProperty("check").GetProperty("ok").GetBoolean());
        Assert.True(r.GetProperty("config_check").GetProperty("ok").GetBoolean());
        Assert.Equal(64, r.GetProperty("tensors").GetArrayLength());
    }

    [Fact]
    public async Task InspectTableOfAFull7BHeader()
    {
        var path = Path.Combine(_tmp.Path, "HPSv3.safetensors");
        Checkpoints.WriteSparse(path, Checkpoints.ReleasedTable());

        var (code, stdout, stderr) = await CliHarness.RunAsync("model", "inspect", path);

        Assert.True(code == 0, stderr);
        Assert.Matches(@"(?m)^model\.layers\.27\.mlp\.down_proj\.weight +BF16 +\[3584, 18944\] +136 MB$", stdout);
        Assert.Contains("check vs HPSv3-7B (released): OK", stdout, StringComparison.Ordinal);
        Assert.Contains("matches the released file", stdout, StringComparison.Ordinal);
        Assert.Contains("8,292,152,882 parameters", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InspectSaysPlainlyWhetherItIsTheReleasedModel()
    {
        var released = Path.Combine(_tmp.Path, "released");
        Directory.CreateDirectory(released);
        Checkpoints.WriteSparse(Path.Combine(released, "HPSv3.safetensors"), Checkpoints.ReleasedTable());
        var renamed = Path.Combine(_tmp.Path, "finetune");
        Directory.CreateDirectory(renamed);
        Checkpoints.WriteSparse(Path.Combine(renamed, "model.safetensors"), Checkpoints.ReleasedTable());

        var (code, stdout, stderr) = await CliHarness.RunAsync("model", "inspect", released, "--summary");
        Assert.True(code == 0, stderr);
        Assert.Matches("(?m)^released HPSv3: yes — ", stdout);
        (code, stdout, stderr) = await CliHarness.RunAsync("model", "inspect", renamed, "--summary");
        Assert.True(code == 0, stderr);
        Assert.Matches("(?m)^released HPSv3: no — the released tensor table, but in model.safetensors", stdout);
        (code, stdout, stderr) = await CliHarness.RunAsync("model", "inspect", TestPaths.Fixture("hpsv3-tiny"), "--summary");
        Assert.True(code == 0, stderr);
        Assert.Matches("(?m)^released HPSv3: no — not the HPSv3-7B tensor table", stdout);
        Assert.DoesNotContain("matches the released file", stdout, StringComparison.Ordinal);

        (code, stdout, _) = await CliHarness.RunAsync("model", "inspect", released, "--json", "--summary");
        Assert.Equal(0, code);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.True(doc.RootElement.GetProperty("released_hpsv3").GetBoolean());
        }

        (code, stdout, _) = await CliHarness.RunAsync("model", "inspect", renamed, "--json", "--summary");
        Assert.Equal(0, code);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.False(doc.RootElement.GetProperty("released_hpsv3").GetBoolean());
        }
    }

    [Fact]
    public async Task InspectOfAMissingPathIsAUserError()
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync("model", "inspect", Path.Combine(_tmp.Path, "nope"));
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("nope", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConvertToShardedFp32LanguageModelLayout()
    {
        var outDir = Path.Combine(_tmp.Path, "converted");

        var (code, stdout, stderr) = await CliHarness.RunAsync("model", "convert", TestPaths.Fixture("hpsv3-tiny"), "--out", outDir,
            "--layout", "language_model", "--dtype", "fp32", "--shard-size", "10MB");

        Assert.True(code == 0, stderr);
        Assert.Equal(outDir, stdout.Trim());
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors.index.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "config.json")));
        var (code2, json, _) = await CliHarness.RunAsync("model", "inspect", outDir, "--json", "--summary");
        Assert.Equal(0, code2);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("language_model", doc.RootElement.GetProperty("layout").GetString());
        Assert.Equal(["F32"], doc.RootElement.GetProperty("dtypes").EnumerateObject().Select(p => p.Name));
        Assert.True(doc.RootElement.GetProperty("config_check").GetProperty("ok").GetBoolean());
        Assert.False(doc.RootElement.TryGetProperty("tensors", out _));
    }

    [Fact]
    public async Task ConvertDryRunWritesNothing()
    {
        var outDir = Path.Combine(_tmp.Path, "dry");

        var (code, stdout, stderr) = await CliHarness.RunAsync("model", "convert", TestPaths.Fixture("hpsv3-tiny/model.safetensors"), "--out", outDir, "--dry-run", "--json");

        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.True(doc.RootElement.GetProperty("dry_run").GetBoolean());
        Assert.Equal(64, doc.RootElement.GetProperty("tensors").GetInt32());
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public async Task ConvertWithAnUnknownLayoutIsAUsageError()
    {
        var (code, _, stderr) = await CliHarness.RunAsync("model", "convert", TestPaths.Fixture("hpsv3-tiny"), "--out", Path.Combine(_tmp.Path, "x"), "--layout", "sideways");
        Assert.Equal(2, code);
        Assert.Contains("sideways", stderr, StringComparison.Ordinal);
    }
}

/// <summary>
/// The issue's "done" path with the tiny real model: <c>hps model download</c> from a fake hub that publishes the
/// tiny checkpoint as <c>MizzenAI/HPSv3</c> and the tiny config + Qwen2-VL tokenizer files as the base repository,
/// then <c>hps score --model &lt;printed folder&gt;</c> through the real loader reproduces the fixture's fp32 score.
/// </summary>
[Trait("Category", "Model")]
public sealed class ModelDownloadThenScoreTests
{
    [Fact]
    public async Task DownloadedFolderScoresLikeTheFixture()
    {
        await using var hub = await FakeHub.StartAsync();
        using var tmp = new TempDir("hps-dl-score-");
        hub.Add(ModelDownloader.HpsRepo, "HPSv3.safetensors", File.ReadAllBytes(TestPaths.Fixture("hpsv3-tiny/model.safetensors")), lfs: true,
            "3333333333333333333333333333333333333333");
        hub.Add(ModelDownloader.QwenRepo, "config.json", File.ReadAllBytes(TestPaths.Fixture("hpsv3-tiny/config.json")), lfs: false,
            "4444444444444444444444444444444444444444");
        foreach (var f in Directory.GetFiles(TestPaths.TokenizerDir))
        {
            hub.Add(ModelDownloader.QwenRepo, Path.GetFileName(f), File.ReadAllBytes(f), lfs: false, "4444444444444444444444444444444444444444");
        }

        var (code, stdout, stderr) = await CliHarness.RunAsync("model", "download", "--endpoint", hub.Endpoint, "--cache-dir", Path.Combine(tmp.Path, "hub"),
            "--out", Path.Combine(tmp.Path, "model"));
        Assert.True(code == 0, stderr);
        var modelDir = stdout.TrimEnd('\n').Split('\n')[^1];

        using var cases = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("hpsv3-tiny/cases.json")));
        var chelsea = cases.RootElement.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("id").GetString() == "chelsea");
        var (scoreCode, json, scoreErr) = await CliHarness.RunAsync("score", "--model", modelDir, "--dtype", "fp32", "--json",
            "--prompt", chelsea.GetProperty("prompt").GetString()!, TestPaths.Image("chelsea.png"));
        Assert.True(scoreCode == 0, scoreErr);
        using var doc = JsonDocument.Parse(json);
        var mu = doc.RootElement.GetProperty("results")[0].GetProperty("mu").GetDouble();
        Assert.Equal(chelsea.GetProperty("expected").GetProperty("fp32").GetProperty("mu").GetDouble(), mu, 1e-4);
    }
}
