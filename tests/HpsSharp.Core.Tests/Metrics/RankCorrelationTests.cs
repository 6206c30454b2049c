using System.Text.Json;
using HpsSharp.Core.Metrics;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Metrics;

[Trait("Category", "Unit")]
public sealed class RankCorrelationTests
{
    private static JsonElement Cases() =>
        JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("metrics/expected.json"))).RootElement;

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases().GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MatchesScipy(string name)
    {
        var c = Cases().GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var x = c.GetProperty("x").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var y = c.GetProperty("y").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(c.GetProperty("spearman").GetDouble(), RankCorrelation.Spearman(x, y), 12);
        Assert.Equal(c.GetProperty("kendall_tau_b").GetDouble(), RankCorrelation.KendallTauB(x, y), 12);
        Assert.Equal(c.GetProperty("normalized_mse").GetDouble(), RankCorrelation.NormalizedMse(x, y), 12);
        Assert.Equal(c.GetProperty("ranks_x").EnumerateArray().Select(e => e.GetDouble()), RankCorrelation.AverageRanks(x));
    }

    [Fact]
    public void ReproducesThePapersCorrelationTableForHpsv3()
    {
        // docs/evaluation.md#model-ranking-correlation: HPSv3 row = Spearman 0.94, Kendall 0.82, normalised MSE 0.029 (from the benchmark "All" means).
        var human = HumanReferenceTable();
        var hpsv3 = new Dictionary<string, double>
        {
            ["Kolors"] = 10.55, ["Flux-dev"] = 10.43, ["Playground-v2.5"] = 10.27, ["Infinity"] = 10.26, ["CogView4"] = 9.61,
            ["PixArt-Σ"] = 9.37, ["SDXL"] = 8.20, ["Hunyuan"] = 8.19, ["SD3"] = 5.31, ["SD2"] = -0.24,
        };
        var names = human.Keys.ToArray();
        var x = names.Select(n => hpsv3[n]).ToArray();
        var y = names.Select(n => human[n]).ToArray();
        Assert.InRange(RankCorrelation.Spearman(x, y), 0.935, 0.945);
        Assert.InRange(RankCorrelation.KendallTauB(x, y), 0.815, 0.825);
        Assert.InRange(RankCorrelation.NormalizedMse(x, y), 0.025, 0.035);
    }

    internal static Dictionary<string, double> HumanReferenceTable() => new()
    {
        ["Playground-v2.5"] = 12.79, ["Kolors"] = 12.51, ["Flux-dev"] = 11.97, ["CogView4"] = 10.79, ["Infinity"] = 10.61,
        ["PixArt-Σ"] = 8.72, ["Hunyuan"] = 6.79, ["SDXL"] = 5.85, ["SD3"] = 5.70, ["SD2"] = 0.67,
    };

    [Fact]
    public void DegenerateInputsGiveClearErrors()
    {
        var allEqual = Assert.Throws<MetricException>(() => RankCorrelation.Spearman([1, 1, 1], [1, 2, 3]));
        Assert.Contains("every value of the first vector is equal", allEqual.Message, StringComparison.Ordinal);
        Assert.Throws<MetricException>(() => RankCorrelation.KendallTauB([1, 2, 3], [4, 4, 4]));
        Assert.Throws<MetricException>(() => RankCorrelation.NormalizedMse([1, 2, 3], [4, 4, 4]));
        var nan = Assert.Throws<MetricException>(() => RankCorrelation.KendallTauB([1, double.NaN, 3], [1, 2, 3]));
        Assert.Contains("value 1 is not a finite number", nan.Message, StringComparison.Ordinal);
        Assert.Contains("at least 2", Assert.Throws<MetricException>(() => RankCorrelation.Spearman([1], [2])).Message, StringComparison.Ordinal);
        Assert.Contains("different lengths", Assert.Throws<MetricException>(() => RankCorrelation.Spearman([1, 2], [2, 3, 4])).Message, StringComparison.Ordinal);
    }
}
