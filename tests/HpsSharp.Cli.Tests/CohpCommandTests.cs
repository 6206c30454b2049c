using System.Text.Json.Nodes;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using HpsSharp.Testing.Generators;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary><c>hps cohp</c> end to end against fake A1111 and ComfyUI servers on loopback.</summary>
[Trait("Category", "Integration")]
public sealed class CohpCommandTests : IDisposable
{
    private readonly FakeA1111Server _a1111 = new();
    private readonly FakeComfyUiServer _comfy = new();
    private readonly TempDir _dir = TestPaths.TempDir("hps-cohp-cli-");

    public CohpCommandTests()
    {
        foreach (var f in new[] { "comfyui-txt2img.json", "comfyui-img2img.json" })
        {
            File.Copy(Path.Combine(TestPaths.RepoRoot, "tools", "cohp", f), _dir.File(f));
        }

        File.WriteAllText(Generators, $$"""
            [
              {"name": "sdxl", "kind": "a1111", "url": "{{_a1111.Url}}", "width": 48, "height": 48, "steps": 20, "retry_delay_s": 0.01},
              {"name": "flux", "kind": "comfyui", "url": "{{_comfy.Url}}", "width": 48, "height": 48,
               "workflow": "comfyui-txt2img.json", "img2img_workflow": "comfyui-img2img.json", "poll_interval_s": 0.01, "retry_delay_s": 0.01}
            ]
            """);
        Directory.CreateDirectory(ModelDir);
    }

    private string Generators => _dir.File("generators.json");

    private string ModelDir => _dir.File("model");

    private string Out => _dir.File("run");

    public void Dispose()
    {
        _a1111.Dispose();
        _comfy.Dispose();
        _dir.Dispose();
    }

    /// <summary>Error lines are wrapped at the console width: compare with whitespace runs folded.</summary>
    private static string Flat(string s) => System.Text.RegularExpressions.Regex.Replace(s, @"\s+", " ");

    private Task<(int Code, string Out, string Err)> Cohp(params string[] extra) =>
        CliHarness.RunAsync(_ => new FakeScorer(), ["cohp", "--prompt", "a red bicycle in the snow", "--generators", Generators, "--model", ModelDir, "--out", Out, .. extra]);

    [Fact]
    public async Task RunsTheChainWritesTheRunFolderAndResumes()
    {
        var (code, stdout, stderr) = await Cohp("--seed", "5", "--rounds", "2", "--candidates", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains("final:", stdout, StringComparison.Ordinal);
        Assert.Contains("NOT the released HPSv3", stderr, StringComparison.Ordinal);
        Assert.Contains("[1/8] model stage: sdxl image 1", stderr, StringComparison.Ordinal);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "run.json")))!;
        Assert.Equal(2, run["model_stage"]!.AsArray().Count);
        Assert.Equal(2, run["rounds"]!.AsArray().Count);
        Assert.Equal(5, run["settings"]!["seed"]!.GetValue<long>());
        Assert.True(File.Exists(Path.Combine(Out, "index.html")));
        Assert.True(File.Exists(Path.Combine(Out, run["final"]!["file"]!.GetValue<string>())));
        Assert.True(File.Exists(Path.Combine(Out, "final.png")));
        Assert.Equal(4, _a1111.Requests.Count + _comfy.Requests.Count - 4); // 2 + 2 txt2img, then 4 img2img

        // The same command again (without --seed: the folder's seed is reused) generates nothing.
        int before = _a1111.Requests.Count + _comfy.Requests.Count;
        var (code2, stdout2, _) = await Cohp("--rounds", "2", "--candidates", "2");
        Assert.Equal(0, code2);
        Assert.Equal(before, _a1111.Requests.Count + _comfy.Requests.Count);
        Assert.Contains("0 generated, 8 reused", stdout2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonPrintsTheRunDocumentAndNothingElse()
    {
        var (code, stdout, stderr) = await Cohp("--seed", "1", "--rounds", "1", "--candidates", "3", "--use", "flux", "--strengths", "0.6", "--json");
        Assert.True(code == 0, stderr);
        var doc = JsonNode.Parse(stdout)!;
        Assert.Equal("flux", doc["chosen_generator"]!.GetValue<string>());
        Assert.Equal(0.6, doc["rounds"]![0]!["strength"]!.GetValue<double>());
        Assert.Equal([0.6, 0.6, 0.6], _comfy.Requests.Where(r => r.Operation == "img2img").Select(r => r.Strength!.Value));
        Assert.Empty(_a1111.Requests);
        Assert.Equal(doc.ToJsonString(), JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "run.json")))!.ToJsonString());
    }

    [Fact]
    public async Task AFailingGeneratorIsReportedAndTheRunGoesOn()
    {
        _a1111.Faults = _ => new FakeFault(500, Message: "out of memory");
        var (code, stdout, stderr) = await Cohp("--seed", "2", "--rounds", "1", "--candidates", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("sdxl failed and is skipped", stderr, StringComparison.Ordinal);
        Assert.Contains("out of memory", stdout, StringComparison.Ordinal);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "run.json")))!;
        Assert.Equal("flux", run["chosen_generator"]!.GetValue<string>());
        Assert.Contains("out of memory", run["model_stage"]![0]!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStageTwoFailureWarnsAndKeepsTheBestSoFar()
    {
        _a1111.Faults = r => r.Operation == "img2img" ? new FakeFault(503) : null;
        var (code, _, stderr) = await Cohp("--seed", "2", "--rounds", "2", "--candidates", "1", "--use", "sdxl");
        Assert.Equal(0, code);
        Assert.Contains("warning:", stderr, StringComparison.Ordinal);
        Assert.Contains("Rerun the same command to continue", Flat(stderr), StringComparison.Ordinal);
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "run.json")))!;
        Assert.Equal("partial", run["status"]!.GetValue<string>());
        Assert.Equal(run["start"]!["file"]!.GetValue<string>(), run["final"]!["file"]!.GetValue<string>());
    }

    [Fact]
    public async Task ABadGeneratorsFileIsAOneLineUserError()
    {
        File.WriteAllText(Generators, """[{"name": "x", "kind": "a1111", "url": "http://127.0.0.1:1", "cfg": 7}]""");
        var (code, stdout, stderr) = await Cohp();
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("generators.json', generator 'x': unknown key 'cfg'", Flat(stderr), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--use", "dalle", "no generator named 'dalle'")]
    [InlineData("--strengths", "0.8,1.2", "--strengths: value 1.2 is outside (0, 1]")]
    [InlineData("--strengths", "strong", "'strong' is not a number")]
    [InlineData("--rounds", "-1", "--rounds: is -1")]
    public async Task BadOptionsAreUserErrors(string option, string value, string message)
    {
        var (code, _, stderr) = await Cohp(option, value);
        Assert.Equal(1, code);
        Assert.Contains(message, Flat(stderr), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFolderOfAnotherPromptIsRefusedBeforeAnythingRuns()
    {
        Directory.CreateDirectory(Out);
        File.WriteAllText(Path.Combine(Out, "run.json"), """{"prompt": "something else", "settings": {"seed": 3}}""");
        var (code, _, stderr) = await Cohp();
        Assert.Equal(1, code);
        Assert.Contains("holds a CoHP run for another prompt", Flat(stderr), StringComparison.Ordinal);
        Assert.Empty(_a1111.Requests);
    }

    [Fact]
    public async Task MissingRequiredOptionsAreUsageErrors()
    {
        var (code, _, stderr) = await CliHarness.RunAsync("cohp", "--generators", Generators);
        Assert.Equal(2, code);
        Assert.Contains("--prompt", stderr, StringComparison.Ordinal);
    }

    /// <summary>The loop once with the tiny real model (random weights) through the default scorer loader.</summary>
    [Fact]
    [Trait("Category", "Model")]
    public async Task RunsWithTheTinyRealModel()
    {
        using var modelDir = TestPaths.TempDir();
        var (code, stdout, stderr) = await CliHarness.RunAsync(null, ["cohp", "--prompt", "a red bicycle in the snow", "--generators", Generators, "--model", TestPaths.TinyModelDir(modelDir), "--out", Out, "--dtype", "fp32", "--seed", "9", "--rounds", "1", "--candidates", "2", "--images-per-generator", "1", "--threshold", "-1000", "--json"]);
        Assert.True(code == 0, stderr);
        var doc = JsonNode.Parse(stdout)!;
        var scores = doc["model_stage"]!.AsArray().SelectMany(e => e!["images"]!.AsArray()).Concat(doc["rounds"]![0]!["candidates"]!.AsArray())
            .Select(i => i!["mu"]!.GetValue<double>()).ToList();
        Assert.Equal(4, scores.Count);
        Assert.All(scores, s => Assert.True(double.IsFinite(s)));
        Assert.True(scores.Distinct().Count() > 1, "different images should get different scores");
        var best = doc["rounds"]![0]!["candidates"]!.AsArray().MaxBy(c => c!["mu"]!.GetValue<double>())!;
        Assert.Equal(best["file"]!.GetValue<string>(), doc["rounds"]![0]!["kept"]!.GetValue<string>());
        Assert.False(doc["model"]!["released_hpsv3"]!.GetValue<bool>());
    }
}
