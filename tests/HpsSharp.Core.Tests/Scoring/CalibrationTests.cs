using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Scoring;

[Trait("Category", "Unit")]
public sealed class CalibrationTests
{
    private static readonly ModelInfo Model = new("m", "fp-1", false, "fp32", 1, 1);

    private static Calibration Make(params double[] mus) =>
        Calibration.FromScores(Model, "ref.jsonl", "ab", [.. mus.Select(m => new Score(m, Math.Log(2)))], 1);

    [Fact]
    public void PercentileIsMidRankAgainstTheReference()
    {
        var c = Make(4, 1, 3, 2, 2);
        Assert.Equal([1.0, 2, 2, 3, 4], c.MuSorted);
        Assert.Equal(0, c.Percentile(0.5));
        Assert.Equal(100, c.Percentile(9));
        Assert.Equal(100.0 * (1 + 1) / 5, c.Percentile(2), 12); // 1 below, 2 equal → 1 + 0.5·2
        Assert.Equal(100.0 * 3 / 5, c.Percentile(2.5), 12);
        Assert.Equal(2.4, c.Mean, 12);
        Assert.Equal(Math.Sqrt(((1.4 * 1.4) + (0.4 * 0.4 * 2) + (0.6 * 0.6) + (1.6 * 1.6)) / 5), c.Std, 12);
        Assert.Equal(2.0, c.MeanSigma!.Value, 12);
        Assert.Equal(1, c.Failed);
    }

    [Fact]
    public void SaveLoadRoundTripsAndBadFilesNameTheProblem()
    {
        using var dir = TestPaths.TempDir();
        var c = Make(0.5, -1, 3);
        c.Save(dir.File("calib.json"));
        var back = Calibration.Load(dir.File("calib.json"));
        Assert.Equal(c.MuSorted, back.MuSorted);
        Assert.Equal(c.Fingerprint, back.Fingerprint);
        Assert.Equal(c.Percentile(0.7), back.Percentile(0.7));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));

        File.WriteAllText(dir.File("bad.json"), "{\"version\":1,\"model\":\"m\",\"fingerprint\":\"f\",\"reference\":\"r\",\"reference_sha256\":\"x\",\"mu_sorted\":[2,1]}");
        Assert.Contains("ascending", Assert.Throws<UserInputException>(() => Calibration.Load(dir.File("bad.json"))).Message, StringComparison.Ordinal);
        File.WriteAllText(dir.File("junk.json"), "not json");
        Assert.Contains("not a calibration file", Assert.Throws<UserInputException>(() => Calibration.Load(dir.File("junk.json"))).Message, StringComparison.Ordinal);
        Assert.Contains("not found", Assert.Throws<UserInputException>(() => Calibration.Load(dir.File("none.json"))).Message, StringComparison.Ordinal);
        Assert.Throws<UserInputException>(() => Calibration.FromScores(Model, "r", "x", [], 3));
    }

    [Fact]
    public void RewardSelectionFormulas()
    {
        Score?[] scores = [new Score(1, Math.Log(0.5)), null, new Score(3, 0), new Score(5, 0)];
        string[] groups = ["a", "a", "a", "b"];
        Assert.Equal([0.0, null, 1.0, 3.0], new RewardSelection(RewardKind.MuMinusKSigma, 2).Apply(scores, groups, null));
        Assert.Equal([-1.0, null, 1.0, 0.0], new RewardSelection(RewardKind.GroupZ).Apply(scores, groups, null));
        Assert.Equal([1.0, null, 3.0, 5.0], new RewardSelection(RewardKind.Mu).Apply(scores, groups, null));
        Assert.Equal([50.0, null, 100.0, 100.0], new RewardSelection(RewardKind.Percentile).Apply(scores, groups, Make(0, 2)));
        Assert.Throws<InvalidOperationException>(() => new RewardSelection(RewardKind.Percentile).Apply(scores, groups, null));
    }
}
