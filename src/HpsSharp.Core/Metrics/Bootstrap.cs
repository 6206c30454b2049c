namespace HpsSharp.Core.Metrics;

/// <summary>A percentile bootstrap interval and how it was made.</summary>
/// <param name="Low">Lower bound.</param>
/// <param name="High">Upper bound.</param>
/// <param name="Level">Coverage, e.g. 0.95.</param>
/// <param name="Resamples">Number of resamples.</param>
/// <param name="Seed">Seed of the generator; the same seed and data give the same interval.</param>
public sealed record BootstrapInterval(double Low, double High, double Level, int Resamples, int Seed);

/// <summary>
/// Seeded percentile bootstrap of a ratio Σnum / Σden over independent units (pairs, or ranking items). Each
/// resample draws as many units as there are, with replacement; the interval is the (1−level)/2 and (1+level)/2
/// quantiles of the resampled ratios with linear interpolation (numpy's default). Resample r uses its own
/// generator seeded from (seed, r), so the result does not depend on thread count or scheduling.
/// </summary>
public static class Bootstrap
{
    /// <summary>Default number of resamples.</summary>
    public const int DefaultResamples = 1000;

    /// <summary>Bootstrap of Σnum/Σden where unit i contributes (<paramref name="numerators"/>[i], <paramref name="denominators"/>[i]).</summary>
    public static BootstrapInterval Ratio(IReadOnlyList<double> numerators, IReadOnlyList<double> denominators, int resamples = DefaultResamples, int seed = 0, double level = 0.95)
    {
        ArgumentNullException.ThrowIfNull(numerators);
        ArgumentNullException.ThrowIfNull(denominators);
        if (numerators.Count != denominators.Count)
        {
            throw new ArgumentException($"numerators ({numerators.Count}) and denominators ({denominators.Count}) differ in length");
        }

        // Units usually take few distinct values (0/1 pairs): code them as bytes and resample counts (cache-friendly).
        var table = new Dictionary<(double, double), int>();
        var codes = new int[numerators.Count];
        for (int i = 0; i < codes.Length; i++)
        {
            var key = (numerators[i], denominators[i]);
            if (!table.TryGetValue(key, out int c))
            {
                c = table.Count;
                table.Add(key, c);
            }

            codes[i] = c;
        }

        var values = table.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();
        if (values.Length <= 256)
        {
            var bytes = new byte[codes.Length];
            for (int i = 0; i < codes.Length; i++)
            {
                bytes[i] = (byte)codes[i];
            }

            return Coded(bytes, values, resamples, seed, level);
        }

        return Run(codes.Length, resamples, seed, level, (rng, n) =>
        {
            double num = 0, den = 0;
            for (int k = 0; k < n; k++)
            {
                int i = rng.NextInt(n);
                num += numerators[i];
                den += denominators[i];
            }

            return num / den;
        });
    }

    /// <summary>
    /// Bootstrap over units given as category codes: unit i contributes <paramref name="values"/>[codes[i]]
    /// (numerator, denominator). Equivalent to <see cref="Ratio"/>; used directly for pair outcomes.
    /// </summary>
    public static BootstrapInterval Coded(byte[] codes, IReadOnlyList<(double Numerator, double Denominator)> values, int resamples = DefaultResamples, int seed = 0, double level = 0.95)
    {
        ArgumentNullException.ThrowIfNull(codes);
        ArgumentNullException.ThrowIfNull(values);
        var num = values.Select(v => v.Numerator).ToArray();
        var den = values.Select(v => v.Denominator).ToArray();
        return Run(codes.Length, resamples, seed, level, (rng, n) =>
        {
            Span<long> counts = stackalloc long[256];

            // Two 32-bit draws per 64-bit output (Lemire's multiply-shift on each half).
            int k = 0;
            for (; k + 1 < n; k += 2)
            {
                ulong r = rng.NextULong();
                counts[codes[(int)(((r & 0xFFFFFFFFUL) * (ulong)n) >> 32)]]++;
                counts[codes[(int)(((r >> 32) * (ulong)n) >> 32)]]++;
            }

            if (k < n)
            {
                counts[codes[rng.NextInt(n)]]++;
            }

            double a = 0, b = 0;
            for (int c = 0; c < num.Length; c++)
            {
                a += counts[c] * num[c];
                b += counts[c] * den[c];
            }

            return a / b;
        });
    }

    /// <summary>The q-quantile of sorted values with linear interpolation (numpy "linear").</summary>
    public static double Quantile(double[] sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((pos - lo) * (sorted[hi] - sorted[lo]));
    }

    private static BootstrapInterval Run(int n, int resamples, int seed, double level, Func<SplitMixXoshiro, int, double> statistic)
    {
        if (resamples < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(resamples), $"resamples must be at least 1, got {resamples}");
        }

        if (!(level > 0 && level < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(level), $"level must be in (0, 1), got {level}");
        }

        if (n == 0)
        {
            throw new MetricException("bootstrap interval", "there are no units to resample");
        }

        var stats = new double[resamples];
        Parallel.For(0, resamples, r => stats[r] = statistic(new SplitMixXoshiro(seed, r), n));

        // A resample can draw only units with a zero denominator (all excluded): its ratio is undefined; leave it out.
        var finite = stats.Where(double.IsFinite).ToArray();
        Array.Sort(finite);
        double alpha = (1 - level) / 2;
        return new BootstrapInterval(Quantile(finite, alpha), Quantile(finite, 1 - alpha), level, resamples, seed);
    }

    /// <summary>xoshiro256** seeded by SplitMix64 from (seed, stream): small, fast, and reproducible everywhere.</summary>
    internal sealed class SplitMixXoshiro
    {
        private ulong _s0, _s1, _s2, _s3;

        public SplitMixXoshiro(int seed, int stream)
        {
            ulong x = ((ulong)(uint)seed << 32) ^ (uint)stream ^ 0x9E3779B97F4A7C15UL;
            _s0 = SplitMix(ref x);
            _s1 = SplitMix(ref x);
            _s2 = SplitMix(ref x);
            _s3 = SplitMix(ref x);
        }

        public ulong NextULong()
        {
            ulong result = BitRotate(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0;
            _s3 ^= _s1;
            _s1 ^= _s2;
            _s0 ^= _s3;
            _s2 ^= t;
            _s3 = BitRotate(_s3, 45);
            return result;
        }

        /// <summary>Uniform in [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for n below 2^31).</summary>
        public int NextInt(int n) => (int)((NextULong() >> 32) * (ulong)n >> 32);

        private static ulong BitRotate(ulong x, int k) => (x << k) | (x >> (64 - k));

        private static ulong SplitMix(ref ulong x)
        {
            ulong z = x += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
