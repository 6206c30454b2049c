using System.Text.Json.Nodes;
using HpsSharp.Core.Imaging;

namespace HpsSharp.Core.Scoring;

/// <summary>Thresholds of the reward-hacking monitors (the service's <c>GET /v1/monitor</c> and <c>hps eval</c>'s report).</summary>
public sealed record MonitorOptions
{
    /// <summary>Scored items the service's sliding window holds (the evaluation uses the whole scored set).</summary>
    public int WindowSize { get; init; } = 2048;

    /// <summary>
    /// A prompt group has collapsed when the std of its μ falls below this (μ units). With a calibration the
    /// threshold is <see cref="CollapseFractionOfReferenceStd"/> × the reference std instead.
    /// </summary>
    public double CollapseStd { get; init; } = 0.05;

    /// <summary>With a calibration: collapse threshold as a fraction of the reference set's μ std.</summary>
    public double CollapseFractionOfReferenceStd { get; init; } = 0.02;

    /// <summary>The spread monitor fires when at least this share of the groups has collapsed.</summary>
    public double CollapsedGroupShareAlert { get; init; } = 0.5;

    /// <summary>A pixel is saturated when HSV saturation ≥ this and value ≥ <see cref="SaturatedMinValue"/>.</summary>
    public double SaturatedPixelSaturation { get; init; } = 0.8;

    /// <summary>Minimum HSV value (brightness) for a saturated pixel (very dark pixels have unstable hue).</summary>
    public double SaturatedMinValue { get; init; } = 0.25;

    /// <summary>The saturation monitor fires when the mean saturated-pixel share exceeds this.</summary>
    public double SaturatedShareAlert { get; init; } = 0.35;

    /// <summary>The σ-trend monitor fires when mean σ of the newer half exceeds the older half by this factor.</summary>
    public double SigmaRiseAlert { get; init; } = 1.25;

    /// <summary>The drift monitor fires when the mean μ is this many reference stds above the reference mean.</summary>
    public double DriftAlertZ { get; init; } = 2.0;

    /// <summary>
    /// The service only: the share of scored images whose pixels its saturated-pixel monitor measures (a systematic
    /// sample: every 10th image at 0.1). Decoding an image a second time cost 15% of the service's CPU per item when
    /// the model itself is cheap (benchmarks/server.md), so the monitor reads a sample; its cost then stays a fixed,
    /// small share of the scoring work whatever the load. 1 = every image; 0 = none.
    /// </summary>
    public double PixelSampleShare { get; init; } = 0.1;
}

/// <summary>One scored item as the monitors see it; <see cref="Sigma"/> is NaN when the score has no σ.</summary>
public readonly record struct MonitoredScore(string Prompt, double Mu, double Sigma);

/// <summary>
/// The reward-hacking monitors as pure functions over a sequence of scored items, shared by the service's sliding
/// window (<c>GET /v1/monitor</c>, <c>/metrics</c>) and by <c>hps eval --report</c> over a scored set, so both
/// compute and name them identically: per-prompt-group spread (collapse toward one score), share of highly
/// saturated pixels, mean σ and its trend along the sequence, and drift of mean μ against a calibration set.
/// </summary>
public static class RewardMonitors
{
    /// <summary>Share of pixels with HSV saturation ≥ <paramref name="minSaturation"/> and value ≥ <paramref name="minValue"/>.</summary>
    public static double SaturatedShare(ReadOnlySpan<byte> rgb, double minSaturation, double minValue)
    {
        int n = rgb.Length / 3, hits = 0;
        int minV = (int)Math.Ceiling(minValue * 255);
        for (int p = 0; p < n; p++)
        {
            int r = rgb[p * 3], g = rgb[(p * 3) + 1], b = rgb[(p * 3) + 2];
            int max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b));
            if (max >= minV && max > 0 && (max - min) >= minSaturation * max)
            {
                hits++;
            }
        }

        return n == 0 ? 0 : hits / (double)n;
    }

    /// <summary>
    /// The saturated-pixel share of an image (decoded when it is encoded), or null when it cannot be decoded: the
    /// scorer reports that item already, the monitor just has no pixels for it.
    /// </summary>
    public static double? SaturatedShare(ImageInput image, MonitorOptions options)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            var rgb = image.Rgb is { } raw ? raw : ImageDecoder.Decode(image).Pixels;
            return SaturatedShare(rgb.Span, options.SaturatedPixelSaturation, options.SaturatedMinValue);
        }
        catch (ImageDecodeException)
        {
            // The decoder reports missing, unreadable and corrupt images alike as ImageDecodeException.
            return null;
        }
    }

    /// <summary>
    /// The monitors over <paramref name="items"/> (in arrival or dataset order, which the σ trend follows) and the
    /// per-image saturated shares, as <c>GET /v1/monitor</c> answers them: <c>window</c> (given by the caller),
    /// <c>groups</c>, <c>spread</c>, <c>saturated_share</c>, <c>mean_sigma</c>, <c>sigma_trend</c>, <c>drift</c>
    /// (null without a calibration) and <c>alerts</c> (the names of the monitors that fire).
    /// </summary>
    /// <param name="items">Scored items; those with a non-finite μ are ignored, those without σ count for μ only.</param>
    /// <param name="saturatedShares">Saturated-pixel share per image whose pixels were seen.</param>
    /// <param name="calibration">Reference set for drift and the collapse threshold, if any.</param>
    /// <param name="options">Thresholds.</param>
    /// <param name="window">What the items are (the service: its sliding window; an evaluation: the scored set).</param>
    /// <param name="saturationExtra">Extra fields for <c>saturated_share</c> (the service: batches skipped).</param>
    public static JsonObject Summarize(IReadOnlyList<MonitoredScore> items, IReadOnlyList<double> saturatedShares, Calibration? calibration, MonitorOptions options, JsonObject window, IReadOnlyDictionary<string, JsonNode?>? saturationExtra = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(saturatedShares);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(window);
        var scored = items.Where(i => double.IsFinite(i.Mu)).ToArray();
        var sigmas = scored.Where(i => double.IsFinite(i.Sigma)).Select(i => i.Sigma).ToArray();
        var alerts = new JsonArray();

        // Spread: std of μ within each prompt group of at least two items.
        var groups = scored.GroupBy(i => i.Prompt, StringComparer.Ordinal).Where(g => g.Count() >= 2)
            .Select(g => Std(g.Select(i => i.Mu).ToArray())).ToArray();
        double collapseAt = calibration is { Std: > 0 } c ? options.CollapseFractionOfReferenceStd * c.Std : options.CollapseStd;
        int collapsed = groups.Count(s => s < collapseAt);
        bool spreadAlert = groups.Length > 0 && collapsed >= options.CollapsedGroupShareAlert * groups.Length;
        if (spreadAlert)
        {
            alerts.Add("spread");
        }

        double satMean = saturatedShares.Count > 0 ? saturatedShares.Average() : double.NaN;
        bool satAlert = saturatedShares.Count > 0 && satMean > options.SaturatedShareAlert;
        if (satAlert)
        {
            alerts.Add("saturated_share");
        }

        // σ trend: least-squares slope of σ over the order of the items, and the newer half against the older half.
        double meanSigma = sigmas.Length > 0 ? sigmas.Average() : double.NaN;
        double slope = Slope(sigmas) * 1000;
        int half = sigmas.Length / 2;
        double older = half > 0 ? sigmas.Take(half).Average() : double.NaN;
        double newer = half > 0 ? sigmas.Skip(half).Average() : double.NaN;
        double ratio = older > 0 ? newer / older : double.NaN;
        bool sigmaAlert = half >= 8 && ratio > options.SigmaRiseAlert;
        if (sigmaAlert)
        {
            alerts.Add("sigma_trend");
        }

        JsonNode? drift = null;
        if (calibration is { } cal && scored.Length > 0)
        {
            double meanMu = scored.Average(i => i.Mu);
            double z = cal.Std > 0 ? (meanMu - cal.Mean) / cal.Std : double.NaN;
            bool driftAlert = z > options.DriftAlertZ;
            if (driftAlert)
            {
                alerts.Add("drift");
            }

            drift = new JsonObject
            {
                ["reference_mean"] = cal.Mean,
                ["reference_std"] = cal.Std,
                ["window_mean"] = meanMu,
                ["z"] = Num(z),
                ["mean_percentile"] = scored.Average(i => cal.Percentile(i.Mu)),
                ["threshold_z"] = options.DriftAlertZ,
                ["alert"] = driftAlert,
            };
        }

        var saturation = new JsonObject
        {
            ["mean"] = Num(satMean),
            ["images"] = saturatedShares.Count,
            ["threshold"] = options.SaturatedShareAlert,
        };
        foreach (var (key, value) in saturationExtra ?? new Dictionary<string, JsonNode?>())
        {
            saturation[key] = value;
        }

        saturation["alert"] = satAlert;
        return new JsonObject
        {
            ["window"] = window,
            ["groups"] = new JsonObject
            {
                ["prompts"] = scored.Select(i => i.Prompt).Distinct(StringComparer.Ordinal).Count(),
                ["with_two_or_more"] = groups.Length,
            },
            ["spread"] = new JsonObject
            {
                ["mean_std"] = Num(groups.Length > 0 ? groups.Average() : double.NaN),
                ["min_std"] = Num(groups.Length > 0 ? groups.Min() : double.NaN),
                ["collapsed_groups"] = collapsed,
                ["collapse_std"] = collapseAt,
                ["alert"] = spreadAlert,
            },
            ["saturated_share"] = saturation,
            ["mean_sigma"] = Num(meanSigma),
            ["sigma_trend"] = new JsonObject
            {
                ["slope_per_1000"] = Num(slope),
                ["older_half_mean"] = Num(older),
                ["newer_half_mean"] = Num(newer),
                ["ratio"] = Num(ratio),
                ["threshold_ratio"] = options.SigmaRiseAlert,
                ["alert"] = sigmaAlert,
            },
            ["drift"] = drift,
            ["alerts"] = alerts,
        };
    }

    private static JsonNode? Num(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;

    private static double Std(double[] v)
    {
        double m = v.Average();
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length);
    }

    private static double Slope(double[] y)
    {
        int n = y.Length;
        if (n < 2)
        {
            return double.NaN;
        }

        double mx = (n - 1) / 2.0, my = y.Average(), num = 0, den = 0;
        for (int i = 0; i < n; i++)
        {
            num += (i - mx) * (y[i] - my);
            den += (i - mx) * (i - mx);
        }

        return num / den;
    }
}
