namespace HpsSharp.Core.Metrics;

/// <summary>
/// Deterministic expectations under a normal distribution, E_{z~N(m, s²)}[f(z)], for the smooth, slowly growing
/// functions HPSv3 needs (sigmoid for P(A≻B), softplus for the uncertainty loss).
/// </summary>
/// <remarks>
/// For s ≤ 1 the integrand is smooth on the scale of the Gaussian and 32-node Gauss–Hermite is exact to ~1e-13
/// (see docs/training.md#deterministic-form). For larger s, f varies on a scale of 1 while the Gaussian is wide, which Gauss–Hermite
/// resolves poorly; there we integrate f(z)·φ((z−m)/s)/s over [m−12s, m+12s] with composite 8-point Gauss–Legendre
/// on panels of width at most 0.5 that have a break at z = 0 (where sigmoid and softplus bend). The tail mass left
/// out beyond 12 s is below 1e-32.
/// </remarks>
public static class Quadrature
{
    private static readonly (double[] X, double[] W) Hermite32 = GaussHermite(32);
    private static readonly (double[] X, double[] W) Legendre8 = GaussLegendre(8);

    /// <summary>E[f(z)] for z ~ N(<paramref name="mean"/>, <paramref name="std"/>²).</summary>
    public static double NormalExpectation(Func<double, double> f, double mean, double std)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (!double.IsFinite(mean) || !double.IsFinite(std) || std < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(std), $"normal expectation needs a finite mean and a finite std ≥ 0 (got mean {mean}, std {std})");
        }

        if (std == 0)
        {
            return f(mean);
        }

        if (std <= 1)
        {
            // ∫ f(z) N(z; m, s²) dz = π^(-1/2) Σ w_i f(m + √2 s x_i)
            var (x, w) = Hermite32;
            double sum = 0;
            for (int i = 0; i < x.Length; i++)
            {
                sum += w[i] * f(mean + Math.Sqrt(2) * std * x[i]);
            }

            return sum / Math.Sqrt(Math.PI);
        }

        double lo = mean - 12 * std, hi = mean + 12 * std;
        double total = 0;
        if (lo < 0 && hi > 0)
        {
            total += Composite(f, mean, std, lo, 0);
            total += Composite(f, mean, std, 0, hi);
        }
        else
        {
            total += Composite(f, mean, std, lo, hi);
        }

        return total;
    }

    private static double Composite(Func<double, double> f, double mean, double std, double a, double b)
    {
        var (x, w) = Legendre8;
        int panels = Math.Max(1, (int)Math.Ceiling((b - a) / 0.5));
        double h = (b - a) / panels;
        double norm = 1.0 / (std * Math.Sqrt(2 * Math.PI));
        double sum = 0;
        for (int p = 0; p < panels; p++)
        {
            double c = a + (p + 0.5) * h;
            for (int i = 0; i < x.Length; i++)
            {
                double z = c + 0.5 * h * x[i];
                double u = (z - mean) / std;
                sum += w[i] * 0.5 * h * f(z) * norm * Math.Exp(-0.5 * u * u);
            }
        }

        return sum;
    }

    /// <summary>Gauss–Legendre nodes and weights on [−1, 1] (Newton iteration on P_n).</summary>
    public static (double[] Nodes, double[] Weights) GaussLegendre(int n)
    {
        var x = new double[n];
        var w = new double[n];
        for (int i = 0; i < (n + 1) / 2; i++)
        {
            double z = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5));
            double pp;
            while (true)
            {
                double p1 = 1, p2 = 0;
                for (int j = 1; j <= n; j++)
                {
                    double p3 = p2;
                    p2 = p1;
                    p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
                }

                pp = n * (z * p1 - p2) / (z * z - 1);
                double z1 = z;
                z = z1 - p1 / pp;
                if (Math.Abs(z - z1) < 1e-15)
                {
                    break;
                }
            }

            x[i] = -z;
            x[n - 1 - i] = z;
            w[i] = w[n - 1 - i] = 2 / ((1 - z * z) * pp * pp);
        }

        return (x, w);
    }

    /// <summary>Gauss–Hermite nodes and weights for the weight e^(−x²) (Σ w = √π).</summary>
    public static (double[] Nodes, double[] Weights) GaussHermite(int n)
    {
        // Newton iteration on orthonormal Hermite polynomials with the usual initial guesses (Golub–Welsch would
        // also do; this is small and exact to double precision for n ≤ 100).
        var x = new double[n];
        var w = new double[n];
        const double pim4 = 0.7511255444649425; // π^(-1/4)
        double z = 0;
        for (int i = 0; i < (n + 1) / 2; i++)
        {
            z = i switch
            {
                0 => Math.Sqrt(2.0 * n + 1) - 1.85575 * Math.Pow(2.0 * n + 1, -0.16667),
                1 => z - 1.14 * Math.Pow(n, 0.426) / z,
                2 => 1.86 * z - 0.86 * x[0],
                3 => 1.91 * z - 0.91 * x[1],
                _ => 2.0 * z - x[i - 2],
            };
            double pp = 0;
            for (int it = 0; it < 100; it++)
            {
                double p1 = pim4, p2 = 0;
                for (int j = 0; j < n; j++)
                {
                    double p3 = p2;
                    p2 = p1;
                    p1 = z * Math.Sqrt(2.0 / (j + 1)) * p2 - Math.Sqrt((double)j / (j + 1)) * p3;
                }

                pp = Math.Sqrt(2.0 * n) * p2;
                double z1 = z;
                z = z1 - p1 / pp;
                if (Math.Abs(z - z1) <= 1e-15)
                {
                    break;
                }
            }

            x[i] = z;
            x[n - 1 - i] = -z;
            w[i] = w[n - 1 - i] = 2.0 / (pp * pp);
        }

        return (x, w);
    }
}
