using System.Text.Json;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary><c>--scorer</c> on score, compare, rank and eval, with the tiny baseline checkpoints of the scorer goldens.</summary>
[Trait("Category", "Integration")]
public sealed class ScorerOptionTests
{
    private static string Golden(string scorer) => TestPaths.Fixture("scorers/" + scorer);

    /// <summary>A model folder as the registry expects: the fixture's files linked, plus the CLIP vocabulary.</summary>
    internal static string ModelDir(TempDir dir, string scorer)
    {
        var model = dir.File(scorer);
        Directory.CreateDirectory(model);
        var src = Golden(scorer == "hpsv2.1" ? "hpsv2" : scorer);
        foreach (var f in new[] { "config.json", "model.safetensors", "HPS_v2.1_compressed.pt", "open_clip_config.json", "sac+logos+ava1-l14-linearMSE.pth" })
        {
            if (File.Exists(Path.Combine(src, f)))
            {
                File.CreateSymbolicLink(Path.Combine(model, f), Path.Combine(src, f));
            }
        }

        if (scorer == "aesthetic")
        {
            Directory.CreateSymbolicLink(Path.Combine(model, "clip"), Golden("clipscore"));
        }

        File.CreateSymbolicLink(Path.Combine(model, "bpe_simple_vocab_16e6.txt.gz"), Path.Combine(TestPaths.Asset("clip-tokenizer"), "bpe_simple_vocab_16e6.txt.gz"));
        return model;
    }

    private static JsonElement Case(string scorer, string id)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Golden(scorer), "cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("id").GetString() == id).Clone();
    }

    private static string ImagePath(string scorer, JsonElement image) => Path.GetFullPath(Path.Combine(Golden(scorer), image.GetProperty("image").GetString()!));

    [Fact]
    public async Task ScoreWithPickScoreWritesScoreAndScorerMatchingTheGoldens()
    {
        using var dir = TestPaths.TempDir();
        var c = Case("pickscore", "batch");
        var prompts = c.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToList();
        var images = c.GetProperty("images").EnumerateArray().Select(i => ImagePath("pickscore", i)).ToList();
        File.WriteAllLines(dir.File("m.jsonl"), prompts.Select((p, i) => JsonSerializer.Serialize(new { prompt = p, image = images[i] })));
        var (code, stdout, stderr) = await CliHarness.RunAsync("score", "--scorer", "pickscore", "--model", ModelDir(dir, "pickscore"), "--manifest", dir.File("m.jsonl"), "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("pickscore", doc.RootElement.GetProperty("model").GetProperty("scorer").GetString());
        var expected = c.GetProperty("expected").GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(expected.Length, results.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal("pickscore", results[i].GetProperty("scorer").GetString());
            Assert.Equal(expected[i], results[i].GetProperty("score").GetDouble(), 1e-4);
            Assert.False(results[i].TryGetProperty("mu", out _), "a scorer without σ writes no mu/log_sigma/sigma");
        }
    }

    [Fact]
    public async Task RankWithTheAestheticPredictorOrdersByTheGoldenScores()
    {
        using var dir = TestPaths.TempDir();
        var c = Case("aesthetic", "batch");
        var images = c.GetProperty("images").EnumerateArray().Select(i => ImagePath("aesthetic", i)).ToArray();
        var expected = c.GetProperty("expected").GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var (code, stdout, stderr) = await CliHarness.RunAsync(["rank", "--scorer", "aesthetic", "--model", ModelDir(dir, "aesthetic"), "--prompt", "unused", "--json", .. images]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var order = doc.RootElement.GetProperty("order").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(Enumerable.Range(0, expected.Length).OrderByDescending(i => expected[i]).ToArray(), order);
        var scores = doc.RootElement.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("score").GetDouble()).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], scores[i], 1e-4);
        }
    }

    [Fact]
    public async Task CompareWithClipScoreNamesTheWinnerAndGivesNoProbability()
    {
        using var dir = TestPaths.TempDir();
        var c = Case("clipscore", "batch");
        var prompt = c.GetProperty("prompts")[0].GetString()!;
        var a = ImagePath("clipscore", c.GetProperty("images")[0]);
        var b = ImagePath("clipscore", c.GetProperty("images")[2]);
        var (code, stdout, stderr) = await CliHarness.RunAsync("compare", "--scorer", "clipscore", "--model", ModelDir(dir, "clipscore"), "--prompt", prompt, a, b, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("p_a_over_b").ValueKind);
        double sa = doc.RootElement.GetProperty("a").GetProperty("score").GetDouble();
        double sb = doc.RootElement.GetProperty("b").GetProperty("score").GetDouble();
        Assert.Equal(c.GetProperty("expected").GetProperty("scores")[0].GetDouble(), sa, 3e-5);
        Assert.Equal(sa > sb ? "a" : "b", doc.RootElement.GetProperty("preferred").GetString());
        Assert.Equal("clipscore", doc.RootElement.GetProperty("a").GetProperty("scorer").GetString());
    }

    [Fact]
    public async Task EvalWithHpsv2CachesUnderTheScorerName()
    {
        using var dir = TestPaths.TempDir();
        var c = Case("hpsv2", "batch");
        var prompts = c.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToList();
        var images = c.GetProperty("images").EnumerateArray().Select(i => ImagePath("hpsv2", i)).ToList();
        var scores = c.GetProperty("expected").GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()).ToList();
        // One pair per prompt: image 0 against image 1 and image 2 against image 1, humans preferring the higher golden score.
        File.WriteAllLines(dir.File("d.jsonl"), new[] { (0, 1), (2, 1) }.Select(p => JsonSerializer.Serialize(new
        {
            prompt = prompts[0],
            path1 = images[p.Item1],
            path2 = images[p.Item2],
            label = 0,
        })));
        var model = ModelDir(dir, "hpsv2.1");
        string[] args = ["eval", "--scorer", "hpsv2.1", "--model", model, "--data", dir.File("d.jsonl"), "--images", "/", "--cache", dir.File("c.sqlite"), "--json", "--bootstrap", "0"];
        var (code, stdout, stderr) = await CliHarness.RunAsync(args);
        Assert.True(code == 0, stderr);
        using (var first = JsonDocument.Parse(stdout))
        {
            Assert.Equal(0, first.RootElement.GetProperty("cache_hits").GetInt32());
            Assert.Contains("HPSv2.1", first.RootElement.GetProperty("protocol").GetProperty("model").GetString(), StringComparison.Ordinal);
        }

        (code, stdout, stderr) = await CliHarness.RunAsync(args);
        Assert.True(code == 0, stderr);
        using (var second = JsonDocument.Parse(stdout))
        {
            Assert.Equal(4, second.RootElement.GetProperty("cache_hits").GetInt32()); // 2 pairs × 2 images, all from the cache
        }

        // Another scorer on the same images and prompts does not reuse HPSv2.1's cached numbers.
        string[] other = ["eval", "--scorer", "clipscore", "--model", ModelDir(dir, "clipscore"), "--data", dir.File("d.jsonl"), "--images", "/", "--cache", dir.File("c.sqlite"), "--json", "--bootstrap", "0"];
        (code, stdout, stderr) = await CliHarness.RunAsync(other);
        Assert.True(code == 0, stderr);
        using var third = JsonDocument.Parse(stdout);
        Assert.Equal(0, third.RootElement.GetProperty("cache_hits").GetInt32());
        Assert.Equal(2, third.RootElement.GetProperty("pairs").GetInt32());
    }

    [Fact]
    public async Task ScoreWithImageRewardGivesTheGoldenReward()
    {
        using var dir = TestPaths.TempDir();
        var model = dir.File("imagereward");
        Directory.CreateDirectory(model);
        foreach (var f in new[] { "ImageReward.pt", "med_config.json", "vision_config.json" })
        {
            File.CreateSymbolicLink(Path.Combine(model, f), Path.Combine(Golden("imagereward"), f));
        }

        var c = Case("imagereward", "rocket");
        var (code, stdout, stderr) = await CliHarness.RunAsync("score", "--scorer", "imagereward", "--model", model, "--tokenizer", TestPaths.Asset("bert-tokenizer"),
            "--prompt", c.GetProperty("prompt").GetString()!, Path.GetFullPath(Path.Combine(Golden("imagereward"), c.GetProperty("image").GetString()!)), "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement.GetProperty("results")[0];
        Assert.Equal("imagereward", r.GetProperty("scorer").GetString());
        Assert.Equal(c.GetProperty("reward").GetDouble(), r.GetProperty("score").GetDouble(), 1e-5);
    }

    [Fact]
    public async Task UnknownScorerAndMissingFilesAreOneLineErrors()
    {
        using var dir = TestPaths.TempDir();
        var (code, _, stderr) = await CliHarness.RunAsync("score", "--scorer", "dalle", "--model", dir.Path, "--prompt", "x", TestPaths.Image("chelsea.png"));
        Assert.Equal(2, code);
        Assert.Contains("dalle", stderr, StringComparison.Ordinal);

        Directory.CreateDirectory(dir.File("empty"));
        (code, _, stderr) = await CliHarness.RunAsync("score", "--scorer", "hpsv2.1", "--model", dir.File("empty"), "--prompt", "x", TestPaths.Image("chelsea.png"));
        Assert.Equal(1, code);
        Assert.Contains("HPS_v2.1_compressed.pt not found", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.RunAsync("score", "--scorer", "imagereward", "--model", dir.File("empty"), "--prompt", "x", TestPaths.Image("chelsea.png"));
        Assert.Equal(1, code);
        Assert.Contains("ImageReward.pt not found", stderr, StringComparison.Ordinal);
    }
}
