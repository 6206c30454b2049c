using HpsSharp.Core.Metrics;

namespace HpsSharp.Training.Losses;

/// <summary>
/// Double-precision scalar versions of the pairwise losses (one pair at a time), the reference the tensor forms in
/// <see cref="PairLosses"/> are tested against. They use <see cref="Quadrature.NormalExpectation"/>, an integration
/// method independent of the tensor form's Gauss–Hermite / split-form evaluation.
/// </summary>
public static class LossReference
{
    /// <summary>Stable softplus(t) = log(1 + eᵗ) = max(t, 0) + log1p(e^(−|t|)).</summary>
    public static double Softplus(double t) => Math.Max(t, 0) + Math.Log(1 + Math.Exp(-Math.Abs(t)));

    /// <summary>σ(t) = 1 / (1 + e^(−t)).</summary>
    public static double Sigmoid(double t) => t >= 0 ? 1 / (1 + Math.Exp(-t)) : Math.Exp(t) / (1 + Math.Exp(t));

    /// <summary>σ_z = sqrt(e^(2·lsA) + e^(2·lsB)), the spread of z = r_A − r_B.</summary>
    public static double SigmaZ(double logSigmaA, double logSigmaB) =>
        Math.Sqrt(Math.Exp(2 * logSigmaA) + Math.Exp(2 * logSigmaB));

    /// <summary>
    /// HPSv3's uncertainty loss for one pair: L(m, s) = E_{z~N(m, s²)}[−log σ(z)] = E[softplus(−z)], with
    /// m = μA − μB and s = sqrt(σA² + σB²), σ = e^(log σ). A is the preferred image.
    /// </summary>
    public static double Uncertainty(double muA, double logSigmaA, double muB, double logSigmaB) =>
        UncertaintyMs(muA - muB, SigmaZ(logSigmaA, logSigmaB));

    /// <summary>L(m, s) = E_{z~N(m, s²)}[softplus(−z)].</summary>
    public static double UncertaintyMs(double m, double s) => Quadrature.NormalExpectation(z => Softplus(-z), m, s);

    /// <summary>Bradley–Terry: −log σ(μA − μB).</summary>
    public static double BradleyTerry(double muA, double muB) => Softplus(-(muA - muB));

    /// <summary>Constant margin: −log σ(μA − μB − margin), margin 0.57 as in HPSv3's code.</summary>
    public static double ConstantMargin(double muA, double muB, double margin = PairLosses.DefaultMargin) =>
        Softplus(-(muA - muB - margin));

    /// <summary>
    /// Bradley–Terry with ties (k = 5): non-tied −log σ(d − ln k); tied −log σ(d − ln k) − log σ(−d − ln k) − ln(k² − 1).
    /// </summary>
    public static double BradleyTerryWithTies(double muA, double muB, bool tied, double k = PairLosses.DefaultTieK)
    {
        double d = muA - muB, lk = Math.Log(k);
        double bt = Softplus(-(d - lk));
        return tied ? bt + Softplus(-(-d - lk)) - Math.Log(k * k - 1) : bt;
    }

    /// <summary>
    /// HPSv3's "hpsv2" loss for one pair: p = softmax([μA, μB]); cross-entropy of logits p toward class 0
    /// = softplus(p₁ − p₀) (the code applies a softmax twice).
    /// </summary>
    public static double Hpsv2(double muA, double muB)
    {
        double p0 = Sigmoid(muA - muB);
        double p1 = 1 - p0;
        return Softplus(p1 - p0);
    }
}
