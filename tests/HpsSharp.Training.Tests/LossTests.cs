using System.Text.Json;
using HpsSharp.Testing;
using HpsSharp.Training.Losses;
using Xunit;
using static TorchSharp.torch;

namespace HpsSharp.Training.Tests;

[Trait("Category", "Model")]
public sealed class LossTests
{
    public sealed record LossCase(string Id, double MuA, double LsA, double MuB, double LsB, double SigmaZ, double Uncertainty, double Bt);

    public static IReadOnlyList<LossCase> Cases { get; } = LoadCases();

    public static TheoryData<string> CaseIds()
    {
        var d = new TheoryData<string>();
        foreach (var c in Cases)
        {
            d.Add(c.Id);
        }

        return d;
    }

    private static IReadOnlyList<LossCase> LoadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("losses/cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(e => new LossCase(
            e.GetProperty("id").GetString()!,
            e.GetProperty("mu_a").GetDouble(), e.GetProperty("log_sigma_a").GetDouble(),
            e.GetProperty("mu_b").GetDouble(), e.GetProperty("log_sigma_b").GetDouble(),
            e.GetProperty("sigma_z").GetDouble(), e.GetProperty("uncertainty_loss").GetDouble(),
            e.GetProperty("bt_loss").GetDouble())).ToList();
    }

    private static LossCase Case(string id) => Cases.Single(c => c.Id == id);

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void DeterministicUncertaintyMatchesGolden(string id)
    {
        var c = Case(id);
        using var muA = tensor(new[] { c.MuA }, float64);
        using var lsA = tensor(new[] { c.LsA }, float64);
        using var muB = tensor(new[] { c.MuB }, float64);
        using var lsB = tensor(new[] { c.LsB }, float64);
        using var loss = PairLosses.Uncertainty(muA, lsA, muB, lsB);
        Assert.InRange(Math.Abs(loss.item<double>() - c.Uncertainty), 0, 1e-7);

        // float32 head outputs (what a model produces) still land within float32 rounding of the golden.
        using var loss32 = PairLosses.Uncertainty(muA.to(float32), lsA.to(float32), muB.to(float32), lsB.to(float32));
        Assert.InRange(Math.Abs(loss32.item<double>() - c.Uncertainty), 0, 1e-5 * Math.Max(1, c.Uncertainty));
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void DoubleReferenceMatchesGolden(string id)
    {
        var c = Case(id);
        Assert.InRange(Math.Abs(LossReference.Uncertainty(c.MuA, c.LsA, c.MuB, c.LsB) - c.Uncertainty), 0, 1e-9);
        Assert.InRange(Math.Abs(LossReference.BradleyTerry(c.MuA, c.MuB) - c.Bt), 0, 1e-12);
        Assert.InRange(Math.Abs(LossReference.SigmaZ(c.LsA, c.LsB) - c.SigmaZ), 0, 1e-12);
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void BradleyTerryMatchesGolden(string id)
    {
        var c = Case(id);
        using var muA = tensor(new[] { c.MuA }, float64);
        using var muB = tensor(new[] { c.MuB }, float64);
        using var loss = PairLosses.BradleyTerry(muA, muB);
        Assert.InRange(Math.Abs(loss.item<double>() - c.Bt), 0, 1e-12);
    }

    [Fact]
    public void DeterministicFormMatchesIndependentQuadratureAcrossMAndS()
    {
        // Both branches (Gauss–Hermite for s ≤ 1, split form above) and the switch between them.
        double[] ms = { -40, -12, -3, -0.5, 0, 0.7, 2, 6, 15, 45 };
        double[] ss = { 1e-4, 0.05, 0.5, 0.999, 1.0, 1.001, 1.7, 4, 12, 60, 300 };
        var m = new List<double>();
        var s = new List<double>();
        foreach (var a in ms)
        {
            foreach (var b in ss)
            {
                m.Add(a);
                s.Add(b);
            }
        }

        using var mt = tensor(m.ToArray(), float64);
        using var st = tensor(s.ToArray(), float64);
        using var l = PairLosses.ExpectedNegLogSigmoid(mt, st);
        var got = l.data<double>().ToArray();
        for (int i = 0; i < m.Count; i++)
        {
            double want = LossReference.UncertaintyMs(m[i], s[i]);
            Assert.True(Math.Abs(got[i] - want) <= 1e-7 * Math.Max(1, Math.Abs(want)),
                $"L({m[i]}, {s[i]}): tensor {got[i]:R}, reference {want:R}");
        }
    }

    [Fact]
    public void UncertaintyGradientsMatchFiniteDifferences()
    {
        const double h = 1e-6;
        foreach (var c in Cases)
        {
            var p = new[] { c.MuA, c.LsA, c.MuB, c.LsB };
            using var x = tensor(p, float64).requires_grad_(true);
            using var loss = PairLosses.Uncertainty(x[0].unsqueeze(0), x[1].unsqueeze(0), x[2].unsqueeze(0), x[3].unsqueeze(0));
            loss.backward();
            var g = x.grad!.data<double>().ToArray();
            for (int k = 0; k < 4; k++)
            {
                var hi = (double[])p.Clone();
                var lo = (double[])p.Clone();
                hi[k] += h;
                lo[k] -= h;
                double fd = (LossReference.Uncertainty(hi[0], hi[1], hi[2], hi[3]) - LossReference.Uncertainty(lo[0], lo[1], lo[2], lo[3])) / (2 * h);
                Assert.True(Math.Abs(g[k] - fd) <= 1e-6 * Math.Max(1, Math.Abs(fd)), $"{c.Id} ∂/∂{k}: autograd {g[k]:R}, finite difference {fd:R}");
            }
        }
    }

    [Fact]
    public void UncertaintyGradientIsFiniteAtExtremeSigmas()
    {
        using var x = tensor(new[] { 3.0, -30.0, 0.0, 8.0 }, float64).requires_grad_(true);
        using var loss = PairLosses.Uncertainty(x[0].unsqueeze(0), x[1].unsqueeze(0), x[2].unsqueeze(0), x[3].unsqueeze(0));
        loss.backward();
        Assert.All(x.grad!.data<double>().ToArray(), v => Assert.True(double.IsFinite(v)));
        using var y = tensor(new[] { 3.0, -60.0, 0.0, -60.0 }, float64).requires_grad_(true);
        using var loss2 = PairLosses.Uncertainty(y[0].unsqueeze(0), y[1].unsqueeze(0), y[2].unsqueeze(0), y[3].unsqueeze(0));
        loss2.backward();
        Assert.All(y.grad!.data<double>().ToArray(), v => Assert.True(double.IsFinite(v)));
        Assert.InRange(Math.Abs(loss2.item<double>() - LossReference.BradleyTerry(3, 0)), 0, 1e-9);
    }

    [Fact]
    public void MonteCarloIsSeededAndAgreesWithTheDeterministicFormWithinItsNoise()
    {
        var mu = Cases.Select(c => c.MuA).ToArray();
        var lsa = Cases.Select(c => c.LsA).ToArray();
        var mub = Cases.Select(c => c.MuB).ToArray();
        var lsb = Cases.Select(c => c.LsB).ToArray();
        using var a = tensor(mu.Select(v => (float)v).ToArray());
        using var la = tensor(lsa.Select(v => (float)v).ToArray());
        using var b = tensor(mub.Select(v => (float)v).ToArray());
        using var lb = tensor(lsb.Select(v => (float)v).ToArray());
        double want = Cases.Average(c => c.Uncertainty);

        using var g1 = new Generator(7, CPU);
        using var g2 = new Generator(7, CPU);
        using var l1 = PairLosses.UncertaintyMonteCarlo(a, la, b, lb, g1);
        using var l2 = PairLosses.UncertaintyMonteCarlo(a, la, b, lb, g2);
        Assert.Equal(l1.item<float>(), l2.item<float>());
        using var l3 = PairLosses.UncertaintyMonteCarlo(a, la, b, lb, g1);
        Assert.NotEqual(l1.item<float>(), l3.item<float>()); // fresh draw every step, as upstream

        // Standard error of the batch mean with 1000 samples per pair is about 0.02 here; 200k samples: ~0.0015.
        Assert.InRange(Math.Abs(l1.item<float>() - want), 0, 0.1);
        using var g3 = new Generator(11, CPU);
        using var big = PairLosses.UncertaintyMonteCarlo(a, la, b, lb, g3, samples: 200_000, roundSamplesToHalf: false);
        Assert.InRange(Math.Abs(big.item<float>() - want), 0, 0.01);
    }

    [Fact]
    public void MonteCarloRoundsSamplesToHalfLikeTheCode()
    {
        // With s = 1 and m = 0 the samples are exactly the (rounded) ε, so the loss equals the mean of softplus(−ε16).
        using var zero = zeros(1);
        using var ls = full(1, -0.5 * Math.Log(2), float32); // σ² = 0.5 each → s = 1
        using var g = new Generator(3, CPU);
        using var loss = PairLosses.UncertaintyMonteCarlo(zero, ls, zero, ls, g, samples: 64);
        using var g2 = new Generator(3, CPU);
        using var eps = randn(new long[] { 1, 64 }, generator: g2).to(float16).to(float32);
        using var expect = nn.functional.softplus(-eps).mean();
        Assert.Equal(expect.item<float>(), loss.item<float>(), 1e-6f);
    }

    [Fact]
    public void OtherLossesMatchTheirReferences()
    {
        double[] ma = { 1.2, -0.3, 4.0, 0.0 };
        double[] mb = { 0.2, 0.9, -1.0, 0.0 };
        bool[] nontied = { true, false, true, false };
        using var a = tensor(ma, float64);
        using var b = tensor(mb, float64);
        using var mask = tensor(nontied);

        double bt = Enumerable.Range(0, 4).Average(i => nontied[i] ? LossReference.BradleyTerry(ma[i], mb[i]) : 0);
        using var btT = PairLosses.BradleyTerry(a, b, mask);
        Assert.Equal(bt, btT.item<double>(), 12);

        double margin = Enumerable.Range(0, 4).Average(i => LossReference.ConstantMargin(ma[i], mb[i]));
        using var marginT = PairLosses.ConstantMargin(a, b);
        Assert.Equal(margin, marginT.item<double>(), 12);

        double btt = Enumerable.Range(0, 4).Average(i => LossReference.BradleyTerryWithTies(ma[i], mb[i], tied: !nontied[i]));
        using var bttT = PairLosses.BradleyTerryWithTies(a, b, mask);
        Assert.Equal(btt, bttT.item<double>(), 12);

        double hps = Enumerable.Range(0, 4).Sum(i => LossReference.Hpsv2(ma[i], mb[i]));
        using var hpsT = PairLosses.Hpsv2(a, b);
        Assert.Equal(hps, hpsT.item<double>(), 12);
    }

    [Fact]
    public void OtherLossGradientsMatchFiniteDifferences()
    {
        const double h = 1e-6;
        double[] p = { 0.8, -0.4 };
        var refs = new (string Name, Func<Tensor, Tensor, Tensor> T, Func<double, double, double> R)[]
        {
            ("bt", (x, y) => PairLosses.BradleyTerry(x, y), LossReference.BradleyTerry),
            ("margin", (x, y) => PairLosses.ConstantMargin(x, y), (x, y) => LossReference.ConstantMargin(x, y)),
            ("btt tied", (x, y) => PairLosses.BradleyTerryWithTies(x, y, tensor(new[] { false })), (x, y) => LossReference.BradleyTerryWithTies(x, y, true)),
            ("hpsv2", PairLosses.Hpsv2, LossReference.Hpsv2),
        };
        foreach (var (name, t, r) in refs)
        {
            using var x = tensor(p, float64).requires_grad_(true);
            using var loss = t(x[0].unsqueeze(0), x[1].unsqueeze(0));
            loss.backward();
            var g = x.grad!.data<double>().ToArray();
            double fa = (r(p[0] + h, p[1]) - r(p[0] - h, p[1])) / (2 * h);
            double fb = (r(p[0], p[1] + h) - r(p[0], p[1] - h)) / (2 * h);
            Assert.True(Math.Abs(g[0] - fa) < 1e-7 && Math.Abs(g[1] - fb) < 1e-7, $"{name}: autograd ({g[0]}, {g[1]}), fd ({fa}, {fb})");
        }
    }

    [Fact]
    public void UncertaintyLossAlwaysGrowsWithSigma()
    {
        // docs/training.md#the-uncertainty-loss / Q5: ∂L/∂s > 0 for every m.
        foreach (var m in new[] { -5.0, 0.0, 0.5, 5.0 })
        {
            double prev = LossReference.UncertaintyMs(m, 0.01);
            foreach (var s in new[] { 0.1, 0.5, 1.0, 2.0, 8.0 })
            {
                double cur = LossReference.UncertaintyMs(m, s);
                Assert.True(cur > prev, $"L({m}, {s}) = {cur} ≤ {prev}");
                prev = cur;
            }
        }
    }

    [Fact]
    public void PairLossDispatchesOnHeadOutputs()
    {
        var c = Case("l02");
        using var outA = tensor(new[] { (float)c.MuA, (float)c.LsA }, new long[] { 1, 2 });
        using var outB = tensor(new[] { (float)c.MuB, (float)c.LsB }, new long[] { 1, 2 });
        using var unc = new PairLoss(LossKind.Uncertainty);
        using var l = unc.Compute(outA, outB);
        Assert.Equal(c.Uncertainty, l.item<double>(), 5);
        using var bt = new PairLoss(PairLoss.Parse("bt"));
        using var lb = bt.Compute(outA, outB);
        Assert.Equal(c.Bt, lb.item<float>(), 5);
        Assert.Equal(LossKind.UncertaintyMonteCarlo, PairLoss.Parse("uncertainty-mc"));
        var ex = Assert.Throws<HpsSharp.Core.UserInputException>(() => PairLoss.Parse("l2"));
        Assert.Contains("l2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TieMaskFollowsTheCodesRule()
    {
        using var cd = tensor(new double[] { 12, 7, 10, 10, 9, 1 }, new long[] { 3, 2 });
        using var m = PairLosses.NontiedMask(cd, 0.1);
        Assert.Equal(new[] { true, false, true }, m.data<bool>().ToArray());
    }
}
