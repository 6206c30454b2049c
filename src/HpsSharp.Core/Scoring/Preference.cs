using HpsSharp.Core.Metrics;

namespace HpsSharp.Core.Scoring;

/// <summary>Preference probabilities derived from two (μ, σ) scores.</summary>
public static class Preference
{
    /// <summary>
    /// P(A≻B) = E[sigmoid(z)], z ~ N(μA − μB, σA² + σB²): the probability that A is preferred when each image's
    /// reward is Gaussian with the predicted mean and standard deviation. Computed deterministically by quadrature
    /// (<see cref="Quadrature.NormalExpectation"/>); not an upstream HPSv3 output (docs/model.md#outputs).
    /// </summary>
    public static double ProbabilityAOverB(Score a, Score b)
    {
        double m = a.Mu - b.Mu;
        double s = Math.Sqrt(a.Sigma * a.Sigma + b.Sigma * b.Sigma);
        if (!double.IsFinite(m) || !double.IsFinite(s))
        {
            throw new ArgumentException($"scores must be finite (A: μ={a.Mu}, σ={a.Sigma}; B: μ={b.Mu}, σ={b.Sigma})");
        }

        return Quadrature.NormalExpectation(Sigmoid, m, s);
    }

    /// <summary>Numerically stable logistic function.</summary>
    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));
}
