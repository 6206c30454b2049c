using System.Text.Json;
using HpsSharp.Core.Metrics;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Metrics;

[Trait("Category", "Unit")]
public sealed class AccuracyTests
{
    [Theory]
    [InlineData(TiePolicy.Strict, GroundTruthTiePolicy.Exclude, 3.0 / 6)]
    [InlineData(TiePolicy.Half, GroundTruthTiePolicy.Exclude, 4.0 / 6)]
    [InlineData(TiePolicy.Exclude, GroundTruthTiePolicy.Exclude, 3.0 / 4)]
    [InlineData(TiePolicy.Strict, GroundTruthTiePolicy.Half, 4.0 / 8)]
    [InlineData(TiePolicy.Strict, GroundTruthTiePolicy.Match, 4.0 / 8)]
    [InlineData(TiePolicy.Exclude, GroundTruthTiePolicy.Match, 4.0 / 6)]
    public void TiePoliciesWeighOutcomesAsDocumented(TiePolicy ties, GroundTruthTiePolicy truth, double expected)
    {
        // 3 correct, 1 wrong, 2 predicted ties, 1 truth tie with unequal scores, 1 truth tie with equal scores.
        var counts = new OutcomeCounts();
        foreach (var (a, b, t) in new[] { (2.0, 1.0, false), (5, 0, false), (1, 0.5, false), (0, 1, false), (1, 1, false), (3, 3, false), (1, 2, true), (4, 4, true) })
        {
            counts.Add(Accuracy.Classify(a, b, t));
        }

        Assert.Equal(3, counts.Correct);
        Assert.Equal(1, counts.Wrong);
        Assert.Equal(2, counts.PredictedTies);
        Assert.Equal(2, counts.TruthTies);
        Assert.Equal(expected, counts.Accuracy(ties, truth), 12);
    }

    [Fact]
    public void RankingAccuracyFollowsThePaperProtocol()
    {
        // Lower rank = better. ranks (1, 2, 2, 3); scores order image 0 best, image 3 second, then 1 = 2 (predicted tie).
        var counts = OutcomeCounts.ForRanking([1, 2, 2, 3], [9, 5, 5, 7]);
        // Pairs: (0,1) ok, (0,2) ok, (0,3) ok, (1,2) truth tie, (1,3) wrong, (2,3) wrong.
        Assert.Equal(3, counts.Correct);
        Assert.Equal(2, counts.Wrong);
        Assert.Equal(1, counts.TruthTies);
        Assert.Equal(3.0 / 5, counts.Accuracy(TiePolicy.Strict, GroundTruthTiePolicy.Exclude), 12);
        var tied = OutcomeCounts.ForRanking([1, 2, 3], [4, 4, 1]);
        Assert.Equal(1, tied.PredictedTies);
        Assert.Equal(2.0 / 3, tied.Accuracy(TiePolicy.Strict, GroundTruthTiePolicy.Exclude), 12);
    }

    [Fact]
    public void NanScoresAreAClearError()
    {
        var ex = Assert.Throws<MetricException>(() => Accuracy.Classify(double.NaN, 1, false));
        Assert.Contains("finite", ex.Message, StringComparison.Ordinal);
        Assert.Throws<MetricException>(() => OutcomeCounts.ForRanking([1, 2], [1, double.PositiveInfinity]));
    }

    [Fact]
    public void BootstrapIsSeededAndCoversThePointEstimate()
    {
        var codes = new byte[2000];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = (byte)(i % 10 < 7 ? 0 : 1); // 70 % correct
        }

        var values = new (double, double)[] { (1, 1), (0, 1) };
        var a = Bootstrap.Coded(codes, values, 1000, seed: 7);
        var b = Bootstrap.Coded(codes, values, 1000, seed: 7);
        var c = Bootstrap.Coded(codes, values, 1000, seed: 8);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.InRange(0.7, a.Low, a.High);

        // Width close to the normal approximation 2·1.96·sqrt(p(1−p)/n) ≈ 0.0402.
        Assert.InRange(a.High - a.Low, 0.034, 0.046);

        // The generic ratio bootstrap gives the same interval for the same units.
        var ratio = Bootstrap.Ratio(codes.Select(x => x == 0 ? 1.0 : 0).ToArray(), codes.Select(_ => 1.0).ToArray(), 1000, seed: 7);
        Assert.Equal(a, ratio);
    }

    [Fact]
    public void QuantileMatchesNumpy()
    {
        var q = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("metrics/expected.json"))).RootElement.GetProperty("quantiles");
        var values = q.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var qs = q.GetProperty("q").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var expected = q.GetProperty("expected").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int i = 0; i < qs.Length; i++)
        {
            Assert.Equal(expected[i], Bootstrap.Quantile(values, qs[i]), 12);
        }
    }

    [Fact]
    public void BootstrapOfNothingIsAClearError()
    {
        Assert.Throws<MetricException>(() => Bootstrap.Coded([], [(1, 1)]));
    }
}
