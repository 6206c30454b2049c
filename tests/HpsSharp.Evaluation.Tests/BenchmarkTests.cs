using System.Text.Json;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Evaluation.Tests;

[Trait("Category", "Unit")]
public sealed class BenchmarkTests
{
    /// <summary>The paper's HPSv3 benchmark table (docs/evaluation.md#generation-benchmark), 10 models × 12 categories, folder-style names.</summary>
    internal static readonly string[] Categories = ["Characters", "Arts", "Design", "Architecture", "Animals", "Natural Scenery", "Transportation", "Products", "Plants", "Food", "Science", "Others"];

    internal static readonly Dictionary<string, double[]> PaperTable = new()
    {
        ["Kolors"] = [11.79, 10.47, 9.87, 10.82, 10.60, 9.89, 10.68, 10.93, 10.50, 10.63, 11.06, 9.51],
        ["flux-dev"] = [11.70, 10.32, 9.39, 10.93, 10.38, 10.01, 10.84, 11.24, 10.21, 10.38, 11.24, 9.16],
        ["playground-v2.5"] = [11.07, 9.84, 9.64, 10.45, 10.38, 9.94, 10.51, 10.62, 10.15, 10.62, 10.84, 9.39],
        ["Infinity"] = [11.17, 9.95, 9.43, 10.36, 9.27, 10.11, 10.36, 10.59, 10.08, 10.30, 10.59, 9.62],
        ["CogView4"] = [10.72, 9.86, 9.33, 9.88, 9.16, 9.45, 9.69, 9.86, 9.45, 9.49, 10.16, 8.97],
        ["pixart-sigma"] = [10.08, 9.07, 8.41, 9.83, 8.86, 8.87, 9.44, 9.57, 9.52, 9.73, 10.35, 8.58],
        ["SDXL"] = [8.67, 7.63, 7.53, 8.57, 8.18, 7.76, 8.65, 8.85, 8.32, 8.43, 8.78, 7.29],
        ["HunyuanDiT"] = [7.96, 8.11, 8.28, 8.71, 7.24, 7.86, 8.33, 8.55, 8.28, 8.31, 8.48, 8.20],
        ["SD3-Medium"] = [6.70, 5.98, 5.15, 5.25, 4.09, 5.24, 4.25, 5.71, 5.84, 6.01, 5.71, 4.58],
        ["SD2"] = [-0.34, -0.56, -1.35, -0.24, -0.54, -0.32, 1.00, 1.11, -0.01, -0.38, -0.38, -0.84],
    };

    /// <summary>
    /// Builds ROOT/MODEL/CATEGORY/i.png + i.txt with two images per cell whose μ average to the paper's cell value,
    /// and a scores file for them.
    /// </summary>
    internal static (string Root, string Scores) BuildPaperBenchmark(TempDir dir)
    {
        string root = Path.Combine(dir.Path, "bench");
        var lines = new List<string>();
        foreach (var (model, values) in PaperTable)
        {
            for (int c = 0; c < Categories.Length; c++)
            {
                string folder = Path.Combine(root, model, Categories[c]);
                Directory.CreateDirectory(folder);
                for (int i = 0; i < 2; i++)
                {
                    File.WriteAllText(Path.Combine(folder, $"{i}.png"), $"{model}/{c}/{i}");
                    File.WriteAllText(Path.Combine(folder, $"{i}.txt"), $"a {Categories[c]} prompt {i}\n");
                    double mu = values[c] + (i == 0 ? 0.5 : -0.5);
                    lines.Add(JsonSerializer.Serialize(new { image = $"{model}/{Categories[c]}/{i}.png", mu }));
                }
            }
        }

        string scores = Path.Combine(dir.Path, "bench_scores.jsonl");
        File.WriteAllLines(scores, lines);
        return (root, scores);
    }

    [Fact]
    public async Task ReproducesThePapersCorrelationFromItsBenchmarkTable()
    {
        using var dir = TestPaths.TempDir();
        var (root, scores) = BuildPaperBenchmark(dir);
        var r = await BenchmarkRunner.RunAsync(root, ScoresFileSource.Load(scores));
        Assert.Equal(10, r.Models.Count);
        Assert.Equal(10, r.Correlation.Models.Count);
        // The paper's "All" column is not exactly the mean of its category columns (Kolors 10.55 vs 10.5625,
        // Infinity 10.26 vs 10.1525); the ranking, and so ρ and τ, are the same either way.
        Assert.Equal(10.5625, r.Models.Single(m => m.Model == "Kolors").Overall, 9);
        Assert.Equal(-0.2375, r.Models.Single(m => m.Model == "SD2").Overall, 9);
        Assert.Equal(12.79, r.Models.Single(m => m.Model == "playground-v2.5").HumanReference);
        Assert.Equal(12, r.Models[0].Categories.Count);
        Assert.InRange(r.Correlation.Spearman!.Value, 0.935, 0.945);
        Assert.InRange(r.Correlation.KendallTauB!.Value, 0.815, 0.825);
        Assert.InRange(r.Correlation.NormalizedMse!.Value, 0.025, 0.035);
        Assert.Equal(240, r.Protocol.Images);
        Assert.Contains("mean of the category means", r.Protocol.Aggregation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScoresEachImageWithItsSidecarPromptThroughTheModel()
    {
        using var dir = TestPaths.TempDir();
        string root = Path.Combine(dir.Path, "b");
        Directory.CreateDirectory(Path.Combine(root, "Kolors"));
        Directory.CreateDirectory(Path.Combine(root, "SD2", "Food"));
        File.WriteAllText(Path.Combine(root, "Kolors", "a.png"), "k-a");
        File.WriteAllText(Path.Combine(root, "Kolors", "a.txt"), "line one\nline two\n");
        File.WriteAllText(Path.Combine(root, "SD2", "Food", "b.jpg"), "s-b");
        File.WriteAllText(Path.Combine(root, "SD2", "Food", "b.txt"), "food");
        File.WriteAllText(Path.Combine(root, "SD2", "Food", "noprompt.png"), "s-c");
        var prompts = new List<string>();
        using var scorer = new FakeScorer(req =>
        {
            lock (prompts)
            {
                prompts.Add(req.Prompt);
            }

            return new Score(req.Image.Name.StartsWith("Kolors", StringComparison.Ordinal) ? 3 : 1, 0);
        });
        var r = await BenchmarkRunner.RunAsync(root, new ModelScoreSource(scorer, null, root));
        Assert.Contains("line one\n\nline two\n", prompts);
        Assert.Contains("food", prompts);
        Assert.Equal(1, r.Protocol.MissingPrompts);
        Assert.Equal(["Kolors", "SD2"], r.Models.Select(m => m.Model));
        Assert.Equal(BenchmarkRunner.NoCategory, r.Models[0].Categories[0].Category);
        Assert.Equal("Food", r.Models[1].Categories[0].Category);
        // Kolors (μ 3, human 12.51) above SD2 (μ 1, human 0.67): both orders agree.
        Assert.Equal(["Kolors", "SD2"], r.Correlation.Models);
        Assert.Equal(1.0, r.Correlation.Spearman);
        Assert.Equal(1.0, r.Correlation.KendallTauB);
    }

    [Fact]
    public void TooFewMatchedModelsExplainWhyThereIsNoCorrelation()
    {
        var c = BenchmarkRunner.Correlate([("Kolors", 1.0), ("unknown", 2.0)], HumanReference.Paper);
        Assert.Null(c.Spearman);
        Assert.Contains("at least 2", c.Note, StringComparison.Ordinal);
        Assert.Contains("9 reference model(s) have no matching folder", c.Note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PixArt-Σ", "pixart-sigma")]
    [InlineData("Hunyuan", "HunyuanDiT")]
    [InlineData("SD3", "sd3_medium")]
    [InlineData("Flux-dev", "FLUX.1-dev")]
    [InlineData("Playground-v2.5", "playground_v2_5")]
    public void ModelNamesMatchAcrossSpellings(string reference, string folder) =>
        Assert.Equal(HumanReference.Canonical(reference), HumanReference.Canonical(folder));

    [Fact]
    public void ReferenceFileIsReadAndCheckedByName()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("ref.json"), """{"A": 1, "B": 2.5}""");
        Assert.Equal(2.5, HumanReference.Load(dir.File("ref.json")).Scores["B"]);
        File.WriteAllText(dir.File("bad.json"), """{"A": "high"}""");
        Assert.Contains("'A'", Assert.Throws<Core.Data.DatasetFormatException>(() => HumanReference.Load(dir.File("bad.json"))).Message, StringComparison.Ordinal);
    }
}
