using System.Text.Json;
using HpsSharp.Testing;
using SkiaSharp;
using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class TrainCommandTests
{
    private static string WriteData(TempDir dir, int pairs)
    {
        Directory.CreateDirectory(dir.File("images"));
        var rows = new List<object>();
        var rng = new Random(3);
        for (int i = 0; i < pairs; i++)
        {
            rows.Add(new { prompt = "a red picture", path1 = Png(dir, $"images/{i}a.png", 220, 30, 30, rng), path2 = Png(dir, $"images/{i}b.png", 30, 40, 220, rng), confidence = 0.99 });
        }

        rows.Add(new { prompt = "low confidence", path1 = "images/0a.png", path2 = "images/0b.png", confidence = 0.5 });
        File.WriteAllText(dir.File("train.json"), JsonSerializer.Serialize(rows));
        return dir.File("train.json");
    }

    private static string Png(TempDir dir, string rel, byte r, byte g, byte b, Random rng)
    {
        using var bmp = new SKBitmap(56, 56, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < 56; y++)
        {
            for (int x = 0; x < 56; x++)
            {
                bmp.SetPixel(x, y, new SKColor((byte)Math.Clamp(r + rng.Next(-40, 41), 0, 255), g, b));
            }
        }

        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(dir.File(rel), data.ToArray());
        return rel;
    }

    private static string[] Common(string data, string outDir) =>
    [
        "train", "--model", TestPaths.Fixture("hpsv3-tiny"), "--random-init", "--tokenizer", TestPaths.TokenizerDir,
        "--data", data, "--out", outDir, "--dtype", "fp32", "--batch-size", "2", "--grad-accum", "1", "--epochs", "2",
        "--min-pixels", "3136", "--max-pixels", "3136", "--lr", "1e-3", "--seed", "7", "--save-every", "1",
    ];

    [Fact]
    public async Task TrainsStopsResumesAndWritesAModelFolder()
    {
        using var dir = TestPaths.TempDir();
        var data = WriteData(dir, 4);
        var outDir = dir.File("out");
        var (code, stdout, stderr) = await CliHarness.RunAsync([.. Common(data, outDir), "--stop-after", "2", "--json"]);
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.False(doc.RootElement.GetProperty("finished").GetBoolean());
            Assert.Equal(2, doc.RootElement.GetProperty("steps").GetInt64());
            Assert.Equal(1, doc.RootElement.GetProperty("data").GetProperty("below_confidence").GetInt64());
        }

        // The folder holds that run: a new run is refused, and so is a resume with other options.
        (code, _, stderr) = await CliHarness.RunAsync([.. Common(data, outDir)]);
        Assert.Equal(1, code);
        Assert.Contains("holds another run", string.Join(' ', stderr.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        Assert.Contains("--overwrite", stderr, StringComparison.Ordinal);
        var changed = Common(data, outDir).Select(a => a switch { "1e-3" => "2e-3", "7" => "8", _ => a }).ToArray();
        (code, _, stderr) = await CliHarness.RunAsync([.. changed, "--resume"]);
        Assert.Equal(1, code);
        // (Whitespace normalised: the console may wrap long lines.)
        Assert.Contains("--lr 0.001 (now 0.002), --seed 7 (now 8)", string.Join(' ', stderr.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);

        (code, stdout, stderr) = await CliHarness.RunAsync([.. Common(data, outDir), "--resume"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("trained 4 steps", stdout, StringComparison.Ordinal);
        foreach (var f in new[] { "model.safetensors", "config.json", "vocab.json", "run.json" })
        {
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        }

        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "run.json")));
        Assert.True(run.RootElement.GetProperty("finished").GetBoolean());
        Assert.Equal(7, run.RootElement.GetProperty("options").GetProperty("seed").GetInt64());
        Assert.EndsWith("step-00000002", run.RootElement.GetProperty("resumed_from").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigFileSuppliesOptionsAndBadInputIsAOneLineError()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("bad.json"), """{"epochs": 1, "learning_rate": 0.1}""");
        var (code, _, stderr) = await CliHarness.RunAsync("train", "--config", dir.File("bad.json"));
        Assert.Equal(2, code); // option problems are usage errors
        Assert.Contains("learning_rate", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.RunAsync("train", "--model", dir.Path, "--data", dir.File("none.json"), "--out", dir.File("o"), "--loss", "mse");
        Assert.Equal(2, code); // option problems are usage errors
        Assert.Contains("--loss", stderr, StringComparison.Ordinal);

        File.WriteAllText(dir.File("cfg.json"), """{"model": "m", "out": "o", "epochs": 0}""");
        (code, _, stderr) = await CliHarness.RunAsync("train", "--config", dir.File("cfg.json"), "--data", "d.json");
        Assert.Equal(2, code); // option problems are usage errors
        Assert.Contains("--epochs", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.RunAsync("train", "--model", dir.Path, "--data", dir.File("none.json"), "--out", dir.File("o"));
        Assert.Equal(1, code);
        Assert.Contains("none.json", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.RunAsync("train", "--model", dir.Path, "--data", dir.File("none.json"), "--out", dir.Path + "/");
        Assert.Equal(2, code); // --out equal to --model is an option problem: a usage error
        Assert.Contains("is the input model folder", string.Join(' ', stderr.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelpListsEveryOption()
    {
        var (code, stdout, _) = await CliHarness.RunAsync("train", "--help");
        Assert.Equal(0, code);
        foreach (var o in new[] { "--model", "--data", "--format", "--images", "--out", "--config", "--epochs", "--lr", "--loss", "--seed", "--resume", "--head-only", "--null-confidence" })
        {
            Assert.Contains(o, stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task LoraRunScoresAsBasePlusAdapterAndMergesThroughTheCli()
    {
        using var dir = TestPaths.TempDir();
        var data = WriteData(dir, 2);
        var model = TestPaths.TinyModelDir(dir);
        var run = dir.File("run");
        var (code, _, stderr) = await CliHarness.RunAsync(
        [
            "train", "--model", model, "--data", data, "--out", run, "--lora", "--lora-r", "4", "--gradient-checkpointing",
            "--batch-size", "2", "--grad-accum", "1", "--epochs", "1", "--min-pixels", "3136", "--max-pixels", "3136", "--lr", "1e-2", "--warmup-ratio", "0",
        ]);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(run, "adapter_config.json")));
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));

        var image = Path.Combine(dir.Path, "images", "0a.png");
        (code, var adapted, stderr) = await CliHarness.RunAsync(["score", "--model", run, "--dtype", "fp32", "--prompt", "a red picture", image, "--json"]);
        Assert.True(code == 0, stderr);
        (code, var mergedOut, stderr) = await CliHarness.RunAsync(["model", "merge-lora", run, "--out", dir.File("merged"), "--dtype", "fp32"]);
        Assert.True(code == 0, stderr);
        Assert.Equal(dir.File("merged"), mergedOut.Trim());
        (code, var merged, stderr) = await CliHarness.RunAsync(["score", "--model", dir.File("merged"), "--dtype", "fp32", "--prompt", "a red picture", image, "--json"]);
        Assert.True(code == 0, stderr);
        static double Mu(string json) => JsonDocument.Parse(json).RootElement.GetProperty("results")[0].GetProperty("mu").GetDouble();
        Assert.Equal(Mu(adapted), Mu(merged), 5);

        // Not an adapter: one line, exit 1. LoRA on random weights: refused as an option problem (usage error, exit 2).
        (code, _, stderr) = await CliHarness.RunAsync(["model", "merge-lora", model, "--out", dir.File("m2")]);
        Assert.Equal(1, code);
        Assert.Contains("is not a LoRA adapter folder", stderr, StringComparison.Ordinal);
        (code, _, stderr) = await CliHarness.RunAsync(["train", "--model", model, "--data", data, "--out", dir.File("r2"), "--lora", "--random-init"]);
        Assert.Equal(2, code);
        Assert.Contains("--random-init", stderr, StringComparison.Ordinal);
    }
}
