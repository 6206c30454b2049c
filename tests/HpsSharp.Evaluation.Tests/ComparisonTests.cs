using System.Globalization;
using System.Text.Json;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Evaluation.Tests;

/// <summary>The side-by-side comparison of several scorers and the paper's reference table.</summary>
[Trait("Category", "Unit")]
public sealed class ComparisonTests
{
    [Fact]
    public void ThePaperTableInCodeIsTheOneInDocsEvaluationMd()
    {
        // Parse "The paper's accuracy table" of docs/evaluation.md: the code must carry exactly its rows and numbers.
        var lines = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "docs", "evaluation.md"));
        int at = Array.FindIndex(lines, l => l.StartsWith("## The paper's accuracy table", StringComparison.Ordinal));
        Assert.True(at >= 0, "docs/evaluation.md has no paper table");
        var table = lines.Skip(at + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|'))
            .Select(l => l.Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
        Assert.Equal(PaperAccuracy.Columns, table[0].Skip(1));
        var rows = table.Skip(2).ToList();
        Assert.Equal(PaperAccuracy.Rows.Select(r => r.Model), rows.Select(r => r[0]));
        foreach (var row in rows)
        {
            var code = PaperAccuracy.Rows.Single(r => r.Model == row[0]).Percent;
            Assert.Equal(row.Skip(1).Select(x => double.Parse(x, CultureInfo.InvariantCulture)), code);
        }
    }

    [Theory]
    [InlineData("hpsv3", DatasetFormat.Hpdv3, 0.769)]
    [InlineData("pickscore", DatasetFormat.Pickapic, 0.705)]
    [InlineData("hpsv2", DatasetFormat.Hpdv2, 0.833)]
    [InlineData("imagereward", DatasetFormat.ImageReward, 0.651)]
    [InlineData("aesthetic", DatasetFormat.Hpdv3, 0.599)]
    [InlineData("hpsv2.1", DatasetFormat.Hpdv2, null)]
    [InlineData("clipscore", DatasetFormat.Hpdv3, null)]
    [InlineData("hpsv3", DatasetFormat.Jsonl, null)]
    public void ThePaperNumberIsLookedUpByScorerAndFormat(string scorer, DatasetFormat format, double? expected)
    {
        var (row, why) = PaperAccuracy.RowFor(scorer);
        Assert.Equal(expected, PaperAccuracy.Lookup(row, PaperAccuracy.ColumnFor(format)));
        Assert.True(row is not null || why is not null, "a scorer without a row says why");
    }

    [Fact]
    public async Task ProtocolsKeepTheirKeyOrderAndNulls()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        var a = await Evaluator.RunAsync(EvalDataset.Open(data), ScoresFileSource.Load(fx.ScoresFile()));

        // The eval protocol interleaves the dataset rules (DatasetProtocol, its base) with the scorer and the counts,
        // in the order the JSON has always had; nulls are written (no images root here, no model information).
        using var eval = JsonDocument.Parse(Reports.ToJson(a));
        var protocol = eval.RootElement.GetProperty("protocol");
        Assert.Equal(
            ["dataset", "format", "split", "dataset_sha256", "records", "metric", "metric_definition", "tie_policy", "tie_policy_definition",
             "ground_truth_ties", "ground_truth_ties_definition", "scores", "model", "released_hpsv3", "dtype", "preprocessing", "deterministic",
             "images_root", "missing_images", "failed_images", "skipped_pairs", "bootstrap", "hpssharp_version", "evaluated_utc"],
            protocol.EnumerateObject().Select(p => p.Name));
        Assert.Equal(JsonValueKind.Null, protocol.GetProperty("images_root").ValueKind);
        Assert.Equal(JsonValueKind.Null, protocol.GetProperty("deterministic").ValueKind);
        Assert.Equal(JsonValueKind.Null, eval.RootElement.GetProperty("items").ValueKind);

        // A comparison's protocol is the dataset rules alone.
        using var comparison = JsonDocument.Parse(Reports.ToJson(EvalComparison.From([("hpsv3", a)])));
        Assert.Equal(
            ["dataset", "format", "split", "dataset_sha256", "records", "metric", "metric_definition", "tie_policy", "tie_policy_definition",
             "ground_truth_ties", "ground_truth_ties_definition", "images_root", "bootstrap", "hpssharp_version", "evaluated_utc"],
            comparison.RootElement.GetProperty("protocol").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task ScorersGoSideBySideWithThePaperNumberAndOneDatasetIsRequired()
    {
        using var fx = new Fixtures();
        var data = fx.Hpdv3();
        var a = await Evaluator.RunAsync(EvalDataset.Open(data), ScoresFileSource.Load(fx.ScoresFile()));

        // A second scorer that reverses every score: every strict pair flips from correct to wrong.
        var reversed = fx.File("reversed.jsonl");
        File.WriteAllLines(reversed, fx.Mu.Select(kv => JsonSerializer.Serialize(new { image = kv.Key, mu = -kv.Value })));
        var b = await Evaluator.RunAsync(EvalDataset.Open(data), ScoresFileSource.Load(reversed));

        var c = EvalComparison.From([("hpsv3", a), ("clipscore", b)]);
        Assert.Equal(["hpsv3", "clipscore"], c.Scorers.Select(s => s.Scorer));
        Assert.Equal(a.Accuracy, c.Scorers[0].Accuracy);
        Assert.Equal(b.Accuracy, c.Scorers[1].Accuracy);
        Assert.Equal(a.Correct, c.Scorers[1].Wrong);
        Assert.Equal(a.Ci95, c.Scorers[0].Ci95);
        Assert.Equal(0.769, c.Scorers[0].PaperAccuracy);
        Assert.Equal("HPSv3", c.Scorers[0].PaperRow);
        Assert.Null(c.Scorers[1].PaperAccuracy);
        Assert.Contains("ViT-H/14", c.Scorers[1].PaperNote, StringComparison.Ordinal);
        Assert.Equal("HPDv3", c.Paper.Column);
        Assert.True(c.SamePairs);

        using var json = JsonDocument.Parse(Reports.ToJson(c));
        Assert.Equal(0.769, json.RootElement.GetProperty("scorers")[0].GetProperty("paper_accuracy").GetDouble());
        Assert.Equal(2, json.RootElement.GetProperty("results").GetArrayLength());
        Assert.Equal(a.Protocol.DatasetSha256, json.RootElement.GetProperty("protocol").GetProperty("dataset_sha256").GetString());

        var md = Reports.Markdown(c);
        Assert.Contains("paper (HPDv3, reference only)", md, StringComparison.Ordinal);
        Assert.Contains("| hpsv3 | " + Reports.Percent(a.Accuracy), md, StringComparison.Ordinal);
        Assert.Contains("76.9%", md, StringComparison.Ordinal);

        // Another dataset (another SHA-256) is refused: the table would compare unlike numbers.
        var otherData = fx.File("other.json");
        File.WriteAllText(otherData, JsonSerializer.Serialize(JsonSerializer.Deserialize<JsonElement[]>(File.ReadAllText(data))![..3]));
        var other = await Evaluator.RunAsync(EvalDataset.Open(otherData), ScoresFileSource.Load(fx.ScoresFile()));
        var e = Assert.Throws<ArgumentException>(() => EvalComparison.From([("hpsv3", a), ("pickscore", other)]));
        Assert.Contains("pickscore", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => EvalComparison.From([("hpsv3", a), ("HPSv3", a)]));
    }
}
