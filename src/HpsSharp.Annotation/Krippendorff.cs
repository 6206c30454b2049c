namespace HpsSharp.Annotation;

/// <summary>Krippendorff's α for nominal data (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011).</summary>
public static class Krippendorff
{
    /// <summary>
    /// α = 1 − D_o / D_e for nominal values. Each unit is the list of values its coders gave (missing values simply
    /// absent); units with fewer than two values are not pairable and are ignored. With the coincidence matrix
    /// o_ck = Σ_u Σ_{i≠j} [v_ui = c][v_uj = k] / (m_u − 1), n_c = Σ_k o_ck and n = Σ_c n_c:
    /// α = 1 − (n − 1) Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k. Null when no unit is pairable or every value is the same
    /// (α is undefined then).
    /// </summary>
    public static double? NominalAlpha<T>(IEnumerable<IReadOnlyList<T>> units)
        where T : notnull
    {
        ArgumentNullException.ThrowIfNull(units);
        var coincidence = new Dictionary<(T, T), double>();
        var totals = new Dictionary<T, double>();
        foreach (var unit in units)
        {
            int m = unit.Count;
            if (m < 2)
            {
                continue;
            }

            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < m; j++)
                {
                    if (i == j)
                    {
                        continue;
                    }

                    var key = (unit[i], unit[j]);
                    coincidence[key] = coincidence.GetValueOrDefault(key) + (1.0 / (m - 1));
                }

                totals[unit[i]] = totals.GetValueOrDefault(unit[i]) + 1;
            }
        }

        double n = totals.Values.Sum();
        if (n < 2)
        {
            return null;
        }

        double observed = coincidence.Where(kv => !EqualityComparer<T>.Default.Equals(kv.Key.Item1, kv.Key.Item2)).Sum(kv => kv.Value);
        double expected = 0;
        foreach (var (c, nc) in totals)
        {
            foreach (var (k, nk) in totals)
            {
                if (!EqualityComparer<T>.Default.Equals(c, k))
                {
                    expected += nc * nk;
                }
            }
        }

        return expected == 0 ? null : 1 - ((n - 1) * observed / expected);
    }
}
