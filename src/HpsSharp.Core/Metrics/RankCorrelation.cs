namespace HpsSharp.Core.Metrics;

/// <summary>
/// Rank correlations and the normalised MSE used to compare a metric's model ranking with human annotation
/// (docs/evaluation.md#model-ranking-correlation). Definitions match scipy: <see cref="Spearman"/> = <c>scipy.stats.spearmanr</c> (Pearson
/// correlation of average ranks), <see cref="KendallTauB"/> = <c>scipy.stats.kendalltau</c> (variant "b", which
/// corrects for ties in either vector and equals τ-a when there are none).
/// </summary>
public static class RankCorrelation
{
    /// <summary>Spearman's ρ: the Pearson correlation of the average ranks (ties share the mean of their ranks).</summary>
    /// <exception cref="MetricException">Fewer than two values, lengths differ, a value is not finite, or one vector is constant.</exception>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Check("Spearman ρ", x, y);
        var rx = AverageRanks(x);
        var ry = AverageRanks(y);
        return Pearson(rx, ry);
    }

    /// <summary>
    /// Kendall's τ-b = (C − D) / sqrt((n0 − n1)(n0 − n2)), n0 = n(n−1)/2, n1 / n2 = pairs tied in x / in y.
    /// Pairs tied in both count in neither C nor D.
    /// </summary>
    /// <exception cref="MetricException">As <see cref="Spearman"/>.</exception>
    public static double KendallTauB(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Check("Kendall τ-b", x, y);
        int n = x.Count;
        long concordant = 0, discordant = 0, tiedX = 0, tiedY = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                int sx = Math.Sign(x[i] - x[j]);
                int sy = Math.Sign(y[i] - y[j]);
                if (sx == 0)
                {
                    tiedX++;
                }

                if (sy == 0)
                {
                    tiedY++;
                }

                if (sx != 0 && sy != 0)
                {
                    if (sx == sy)
                    {
                        concordant++;
                    }
                    else
                    {
                        discordant++;
                    }
                }
            }
        }

        double n0 = n * (n - 1) / 2.0;
        return (concordant - discordant) / Math.Sqrt((n0 - tiedX) * (n0 - tiedY));
    }

    /// <summary>
    /// Mean squared error between <paramref name="x"/> and <paramref name="y"/> after min-max normalising each to
    /// [0, 1] (the paper's "normalized MSE").
    /// </summary>
    /// <exception cref="MetricException">As <see cref="Spearman"/>.</exception>
    public static double NormalizedMse(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Check("normalised MSE", x, y);
        var nx = MinMax(x);
        var ny = MinMax(y);
        double sum = 0;
        for (int i = 0; i < nx.Length; i++)
        {
            double d = nx[i] - ny[i];
            sum += d * d;
        }

        return sum / nx.Length;
    }

    /// <summary>1-based ranks in ascending order; tied values get the mean of the ranks they span.</summary>
    public static double[] AverageRanks(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int n = values.Count;
        var order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
        var ranks = new double[n];
        int k = 0;
        while (k < n)
        {
            int end = k;
            while (end + 1 < n && values[order[end + 1]] == values[order[k]])
            {
                end++;
            }

            double rank = ((k + end) / 2.0) + 1;
            for (int m = k; m <= end; m++)
            {
                ranks[order[m]] = rank;
            }

            k = end + 1;
        }

        return ranks;
    }

    private static double Pearson(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average();
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }

        return sab / Math.Sqrt(saa * sbb);
    }

    private static double[] MinMax(IReadOnlyList<double> v)
    {
        double min = v.Min(), max = v.Max();
        return v.Select(e => (e - min) / (max - min)).ToArray();
    }

    private static void Check(string metric, IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
        {
            throw new MetricException(metric, $"the two vectors have different lengths ({x.Count} and {y.Count})");
        }

        if (x.Count < 2)
        {
            throw new MetricException(metric, $"needs at least 2 paired values, got {x.Count}");
        }

        for (int i = 0; i < x.Count; i++)
        {
            if (!double.IsFinite(x[i]) || !double.IsFinite(y[i]))
            {
                throw new MetricException(metric, $"value {i} is not a finite number (x = {x[i]}, y = {y[i]})");
            }
        }

        if (x.All(v => v == x[0]))
        {
            throw new MetricException(metric, "undefined: every value of the first vector is equal");
        }

        if (y.All(v => v == y[0]))
        {
            throw new MetricException(metric, "undefined: every value of the second vector is equal");
        }
    }
}
