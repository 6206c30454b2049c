using System.Text.Json;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Evaluation.Tests;

[Trait("Category", "Unit")]
public sealed class ReportTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    [Fact]
    public async Task EvalReportsCarryTheProtocolAndEmbedPlots()
    {
        using var fx = new Fixtures();
        using var scorer = fx.Scorer();
        var r = await Evaluator.RunAsync(EvalDataset.Open(fx.Hpdv3()), new ModelScoreSource(scorer, null, fx.Root));
        string dir = fx.File("report");
        string html = Reports.Write(r, dir);
        foreach (var png in new[] { "scores.png", "accuracy.png", "reliability.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, png));
            Assert.True(bytes.AsSpan().StartsWith(PngSignature), $"{png} is not a PNG");
            Assert.True(bytes.Length > 5000, $"{png} is suspiciously small ({bytes.Length} bytes)");
        }

        string page = File.ReadAllText(html);
        Assert.Contains("data:image/png;base64,", page, StringComparison.Ordinal);
        Assert.DoesNotContain("src=\"scores.png\"", page, StringComparison.Ordinal);
        foreach (var text in new[] { "tie policy", "strict: a predicted tie", "dataset sha256", "min_pixels=200704", "NOT the released HPSv3", "animals", "flux vs sdxl", "72.73%", "listed: pairs humans judged a tie count in their listed order" })
        {
            Assert.Contains(System.Net.WebUtility.HtmlEncode(text), page, StringComparison.Ordinal);
        }

        string md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.Contains("| tie policy | strict: a predicted tie", md, StringComparison.Ordinal);
        Assert.Contains("![Reliability curve](reliability.png)", md, StringComparison.Ordinal);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "result.json")));
        var root = json.RootElement;
        Assert.Equal("pair_accuracy", root.GetProperty("metric").GetString());
        Assert.Equal(8.0 / 11, root.GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal(11, root.GetProperty("pairs").GetInt64());
        Assert.Equal(8, root.GetProperty("correct").GetInt64());
        Assert.Equal("listed", root.GetProperty("protocol").GetProperty("ground_truth_ties").GetString());
        Assert.Equal(1, root.GetProperty("predicted_ties").GetInt64());
        Assert.Equal(2, root.GetProperty("ci95").GetArrayLength());
        Assert.Equal("strict", root.GetProperty("protocol").GetProperty("tie_policy").GetString());
        Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"));
    }

    [Fact]
    public async Task BenchmarkReportShowsTheTableAndCorrelation()
    {
        using var dir = TestPaths.TempDir();
        var (root, scores) = BenchmarkTests.BuildPaperBenchmark(dir);
        var r = await BenchmarkRunner.RunAsync(root, ScoresFileSource.Load(scores));
        string html = Reports.Write(r, dir.File("report"));
        string page = File.ReadAllText(html);
        Assert.Contains("Spearman ρ = 0.939", page, StringComparison.Ordinal);
        Assert.Contains("Kendall τ-b = 0.822", page, StringComparison.Ordinal);
        Assert.Contains("normalised MSE = 0.0296", page, StringComparison.Ordinal);
        Assert.Contains("<td>Kolors</td><td>10.56</td><td>12.51</td>", page, StringComparison.Ordinal);
        Assert.True(File.ReadAllBytes(dir.File("report/vs_human.png")).AsSpan().StartsWith(PngSignature));
        Assert.Contains("| Kolors | 10.56 | 12.51 |", File.ReadAllText(dir.File("report/report.md")), StringComparison.Ordinal);
    }
}
