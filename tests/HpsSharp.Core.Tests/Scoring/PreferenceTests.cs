using System.Text.Json;
using HpsSharp.Core.Metrics;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Scoring;

[Trait("Category", "Unit")]
public sealed class PreferenceTests
{
    public static TheoryData<string> LossCases()
    {
        var data = new TheoryData<string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("losses/cases.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LossCases))]
    public void ProbabilityMatchesReferenceWithin1e9(string id)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("losses/cases.json")));
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("id").GetString() == id);
        var a = new Score(c.GetProperty("mu_a").GetDouble(), c.GetProperty("log_sigma_a").GetDouble());
        var b = new Score(c.GetProperty("mu_b").GetDouble(), c.GetProperty("log_sigma_b").GetDouble());
        double expected = c.GetProperty("p_a_beats_b").GetDouble();
        double actual = Preference.ProbabilityAOverB(a, b);
        Assert.True(Math.Abs(expected - actual) < 1e-9, $"{id}: expected {expected:R}, got {actual:R}");
        Assert.True(Math.Abs(1 - Preference.ProbabilityAOverB(b, a) - actual) < 1e-9, $"{id}: P(A≻B) + P(B≻A) must be 1");
    }

    [Fact]
    public void GaussHermiteWeightsSumToSqrtPi()
    {
        var (x, w) = Quadrature.GaussHermite(32);
        Assert.Equal(Math.Sqrt(Math.PI), w.Sum(), 12);
        Assert.Equal(0, x.Sum(), 10);
    }

    [Fact]
    public void NonFiniteScoresAreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Preference.ProbabilityAOverB(new Score(double.NaN, 0), new Score(0, 0)));
        Assert.Contains("finite", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RankOrdersBestFirstAndDropsFailures()
    {
        var mus = new Dictionary<string, double> { ["a"] = 1, ["b"] = 3, ["c"] = 2 };
        using var scorer = new FakeScorer(r => r.Image.Name == "bad" ? throw new InvalidDataException("undecodable") : new Score(mus[r.Image.Name], 0));
        var images = new[] { "a", "b", "bad", "c" }.Select(n => ImageInput.FromBytes(new byte[] { 1 }, n)).ToList();
        var ranking = await scorer.RankAsync("p", images);
        Assert.Equal(new[] { 1, 3, 0 }, ranking.Order);
        Assert.Equal("undecodable", ranking.Results[2].Error);
    }
}
