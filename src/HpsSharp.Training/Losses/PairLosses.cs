using HpsSharp.Core.Metrics;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Training.Losses;

/// <summary>
/// The pairwise preference losses of HPSv3's <c>VLMRewardTrainer.compute_loss</c> as pure, differentiable tensor
/// functions. Inputs are per-pair vectors [B]: μ (column 0 of the head) and log σ (column 1) of the preferred
/// image A (<c>path1</c>) and of the other image B. Every function returns a scalar.
/// </summary>
/// <remarks>
/// The losses other than the uncertainty loss were written upstream for a one-output head; HpsSharp applies them to
/// μ only (docs/quirks.md Q6). The deterministic uncertainty loss is evaluated in float64 (it costs O(B·128)) and returned
/// as float64; its gradient flows back into the caller's dtype.
/// </remarks>
public static class PairLosses
{
    /// <summary>Margin of <c>constant_margin</c> (HPSv3 code: 0.57).</summary>
    public const double DefaultMargin = 0.57;

    /// <summary>k of Bradley–Terry with ties (HPSv3 code: 5.0).</summary>
    public const double DefaultTieK = 5.0;

    /// <summary>Samples per pair of the Monte Carlo uncertainty loss (HPSv3 code: 1000).</summary>
    public const int DefaultSamples = 1000;

    private const int HermiteNodes = 32;
    private const int LegendreNodes = 64;
    private const double LegendreHalfRange = 40;

    private static readonly double[] HermiteX;
    private static readonly double[] HermiteW;
    private static readonly double[] SplitZ;      // Gauss–Legendre nodes on [−40, 0] ∪ [0, 40]
    private static readonly double[] SplitWg;     // weight × log1p(e^(−|z|)) at each node

    static PairLosses()
    {
        var (hx, hw) = Quadrature.GaussHermite(HermiteNodes);
        HermiteX = hx;
        HermiteW = hw.Select(w => w / Math.Sqrt(Math.PI)).ToArray();
        var (lx, lw) = Quadrature.GaussLegendre(LegendreNodes);
        double half = LegendreHalfRange / 2;
        SplitZ = new double[2 * LegendreNodes];
        SplitWg = new double[2 * LegendreNodes];
        for (int i = 0; i < LegendreNodes; i++)
        {
            // [−40, 0] and [0, 40]: z = ±(half + half·x)
            for (int side = 0; side < 2; side++)
            {
                double z = (side == 0 ? -1 : 1) * (half + half * lx[i]);
                int j = side * LegendreNodes + i;
                SplitZ[j] = z;
                SplitWg[j] = half * lw[i] * Math.Log(1 + Math.Exp(-Math.Abs(z)));
            }
        }
    }

    /// <summary>
    /// Per-pair L(m, s) = E_{z~N(m, s²)}[−log σ(z)] = E[softplus(−z)], deterministic (docs/training.md#deterministic-form).
    /// s ≤ 1: 32-node Gauss–Hermite, L ≈ π^(−1/2) Σ wᵢ softplus(−(m + √2·s·xᵢ)).
    /// s &gt; 1: split form, softplus(−z) = max(−z, 0) + log1p(e^(−|z|)) with E[max(−z, 0)] = s·φ(m/s) − m·Φ(−m/s)
    /// exactly, and E[log1p(e^(−|z|))] = ∫ log1p(e^(−|z|)) φ((z − m)/s)/s dz by 64-node Gauss–Legendre on each of
    /// [−40, 0] and [0, 40]. Both branches are evaluated on clamped s so that neither produces a non-finite gradient
    /// for the rows the other branch owns. Returns [B] in float64.
    /// </summary>
    public static Tensor ExpectedNegLogSigmoid(Tensor m, Tensor s)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(s);
        using var scope = NewDisposeScope();
        var dev = m.device;
        var md = m.to(float64);
        var sd = s.to(float64);

        // Gauss–Hermite branch on s clamped to ≤ 1.  [B] -> [B, 32]
        var sg = sd.clamp_max(1.0);
        var hx = tensor(HermiteX, float64, dev);
        var hw = tensor(HermiteW, float64, dev);
        var z = md.unsqueeze(1) + Math.Sqrt(2) * sg.unsqueeze(1) * hx.unsqueeze(0);
        var gh = (nn.functional.softplus(-z) * hw.unsqueeze(0)).sum(1);

        // Split branch on s clamped to ≥ 1.
        var ss = sd.clamp_min(1.0);
        var u = md / ss;
        var pdf = (-0.5 * u * u).exp() / Math.Sqrt(2 * Math.PI);
        var cdfNeg = 0.5 * special.erfc(u / Math.Sqrt(2));                 // Φ(−m/s)
        var relu = ss * pdf - md * cdfNeg;
        var sz = tensor(SplitZ, float64, dev);
        var swg = tensor(SplitWg, float64, dev);
        var t = (sz.unsqueeze(0) - md.unsqueeze(1)) / ss.unsqueeze(1);        // [B, 128]
        var rest = ((-0.5 * t * t).exp() * swg.unsqueeze(0)).sum(1) / (ss * Math.Sqrt(2 * Math.PI));
        var split = relu + rest;

        return where(sd <= 1.0, gh, split).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HPSv3's uncertainty loss, deterministic: mean over pairs of E_{z~N(μA−μB, σA²+σB²)}[−log σ(z)], σ = e^(log σ)
    /// (see <see cref="ExpectedNegLogSigmoid"/>). The Monte Carlo estimator of the released code converges to this.
    /// </summary>
    public static Tensor Uncertainty(Tensor muA, Tensor logSigmaA, Tensor muB, Tensor logSigmaB)
    {
        using var scope = NewDisposeScope();
        var (m, s) = Difference(muA, logSigmaA, muB, logSigmaB);
        return ExpectedNegLogSigmoid(m, s).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HPSv3's uncertainty loss exactly as the released code computes it: z = ε·s + m with ε ~ N(0, 1), B × samples
    /// draws (fresh on every call), ε rounded to float16 first when <paramref name="roundSamplesToHalf"/> (as the code
    /// does), loss = mean over samples and pairs of −log σ(z). Computed in the dtype of μ.
    /// </summary>
    public static Tensor UncertaintyMonteCarlo(Tensor muA, Tensor logSigmaA, Tensor muB, Tensor logSigmaB,
        Generator? generator, int samples = DefaultSamples, bool roundSamplesToHalf = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        using var scope = NewDisposeScope();
        var (m, s) = Difference(muA, logSigmaA, muB, logSigmaB);
        var eps = randn(new long[] { m.shape[0], samples }, dtype: float32, device: m.device, generator: generator);
        if (roundSamplesToHalf)
        {
            eps = eps.to(float16);
        }

        eps = eps.to(m.dtype);
        var zs = eps * s.unsqueeze(1) + m.unsqueeze(1);
        return (-nn.functional.logsigmoid(zs)).mean().MoveToOuterDisposeScope();
    }

    /// <summary>Bradley–Terry (<c>bt</c>): mean over pairs of −log σ(μA − μB)·nontied (nontied = 1 when absent).</summary>
    public static Tensor BradleyTerry(Tensor muA, Tensor muB, Tensor? nontiedMask = null) =>
        Masked(nn.functional.softplus(-(muA - muB)), nontiedMask);

    /// <summary>Constant margin (<c>constant_margin</c>): mean of −log σ(μA − μB − margin)·nontied.</summary>
    public static Tensor ConstantMargin(Tensor muA, Tensor muB, Tensor? nontiedMask = null, double margin = DefaultMargin) =>
        Masked(nn.functional.softplus(-(muA - muB - margin)), nontiedMask);

    /// <summary>
    /// Bradley–Terry with ties (<c>btt</c>, k = 5): with d = μA − μB, non-tied pairs −log σ(d − ln k), tied pairs
    /// −log σ(d − ln k) − log σ(−d − ln k) − ln(k² − 1); mean over all pairs. nontied = 1 everywhere when absent.
    /// </summary>
    public static Tensor BradleyTerryWithTies(Tensor muA, Tensor muB, Tensor? nontiedMask = null, double k = DefaultTieK)
    {
        using var scope = NewDisposeScope();
        double lk = Math.Log(k);
        var d = muA - muB;
        var bt = nn.functional.softplus(-(d - lk));
        if (nontiedMask is null)
        {
            return bt.mean().MoveToOuterDisposeScope();
        }

        var same = bt + nn.functional.softplus(-(-d - lk)) - Math.Log(k * k - 1);
        var nt = nontiedMask.to(bt.dtype, bt.device);
        return (bt * nt + same * (1 - nt)).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>hpsv2</c>: p = softmax([μA, μB]) per pair, then cross-entropy of p (used as logits, as the code does) toward
    /// class 0, i.e. softplus(p₁ − p₀), <b>summed</b> over the batch.
    /// </summary>
    public static Tensor Hpsv2(Tensor muA, Tensor muB)
    {
        using var scope = NewDisposeScope();
        var p = nn.functional.softmax(stack(new[] { muA, muB }, 1), 1);      // [B, 2]
        var ce = nn.functional.cross_entropy(p, zeros(muA.shape[0], dtype: int64, device: muA.device), reduction: nn.Reduction.Sum);
        return ce.MoveToOuterDisposeScope();
    }

    /// <summary>Tie mask from vote counts: non-tied iff |(c₁ − c₂)/(c₁ + c₂)| &gt; threshold ([B, 2] → [B] bool).</summary>
    public static Tensor NontiedMask(Tensor choiceDist, double threshold)
    {
        using var scope = NewDisposeScope();
        var c = choiceDist.to(float64);
        var r = ((c[.., 0] - c[.., 1]) / c.sum(1)).abs();
        return (r > threshold).MoveToOuterDisposeScope();
    }

    private static (Tensor M, Tensor S) Difference(Tensor muA, Tensor logSigmaA, Tensor muB, Tensor logSigmaB)
    {
        ArgumentNullException.ThrowIfNull(muA);
        ArgumentNullException.ThrowIfNull(logSigmaA);
        ArgumentNullException.ThrowIfNull(muB);
        ArgumentNullException.ThrowIfNull(logSigmaB);
        var m = muA - muB;
        var s = (logSigmaA.exp().square() + logSigmaB.exp().square()).sqrt();
        return (m, s);
    }

    private static Tensor Masked(Tensor perPair, Tensor? nontiedMask)
    {
        using var scope = NewDisposeScope();
        var l = nontiedMask is null ? perPair : perPair * nontiedMask.to(perPair.dtype, perPair.device);
        return l.mean().MoveToOuterDisposeScope();
    }
}
