using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Server.Monitoring;

/// <summary>Thresholds of the reward-hacking monitors.</summary>
public sealed record MonitorOptions
{
    /// <summary>Scored items the sliding window holds.</summary>
    public int WindowSize { get; init; } = 2048;

    /// <summary>
    /// A prompt group has collapsed when the std of its μ falls below this (μ units). With a calibration the
    /// threshold is <see cref="CollapseFractionOfReferenceStd"/> × the reference std instead.
    /// </summary>
    public double CollapseStd { get; init; } = 0.05;

    /// <summary>With a calibration: collapse threshold as a fraction of the reference set's μ std.</summary>
    public double CollapseFractionOfReferenceStd { get; init; } = 0.02;

    /// <summary>The spread monitor fires when at least this share of the window's groups has collapsed.</summary>
    public double CollapsedGroupShareAlert { get; init; } = 0.5;

    /// <summary>A pixel is saturated when HSV saturation ≥ this and value ≥ <see cref="SaturatedMinValue"/>.</summary>
    public double SaturatedPixelSaturation { get; init; } = 0.8;

    /// <summary>Minimum HSV value (brightness) for a saturated pixel (very dark pixels have unstable hue).</summary>
    public double SaturatedMinValue { get; init; } = 0.25;

    /// <summary>The saturation monitor fires when the window's mean saturated-pixel share exceeds this.</summary>
    public double SaturatedShareAlert { get; init; } = 0.35;

    /// <summary>The σ-trend monitor fires when mean σ of the window's newer half exceeds the older half by this factor.</summary>
    public double SigmaRiseAlert { get; init; } = 1.25;

    /// <summary>The drift monitor fires when the window's mean μ is this many reference stds above the reference mean.</summary>
    public double DriftAlertZ { get; init; } = 2.0;
}

/// <summary>
/// Watches the rewards the service hands out for signs that a policy is gaming HPSv3: prompt groups whose scores
/// collapse to one value (one face, one composition), a growing share of highly saturated pixels, rising σ (the
/// model's own uncertainty: inputs drifting out of its training distribution), and μ drifting far above a
/// calibration reference. Counts are over a sliding window of the last <see cref="MonitorOptions.WindowSize"/>
/// scored items. μ and σ are recorded on the request path (cheap); the pixel statistic is computed by one
/// background worker, which skips batches rather than slow the service when it falls behind.
/// </summary>
public sealed class RewardMonitor : IDisposable
{
    private readonly MonitorOptions _options;
    private readonly Calibration? _calibration;
    private readonly object _gate = new();
    private readonly Queue<(long Seq, string Prompt, double Mu, double Sigma)> _scores = new();
    private readonly Queue<double> _saturation = new();
    private readonly Channel<IReadOnlyList<ImageInput>> _pixels = Channel.CreateBounded<IReadOnlyList<ImageInput>>(
        new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly Task _worker;
    private long _seq;
    private long _pixelBatchesSkipped;

    public RewardMonitor(MonitorOptions options, Calibration? calibration)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _calibration = calibration;
        _worker = Task.Run(DrainPixelsAsync);
    }

    /// <summary>Records scored items (failed ones are ignored).</summary>
    public void Record(IReadOnlyList<ScoreResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var ok = results.Where(r => r.Score is { } s && double.IsFinite(s.Mu) && double.IsFinite(s.LogSigma)).ToList();
        if (ok.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            foreach (var r in ok)
            {
                _scores.Enqueue((++_seq, r.Request.Prompt, r.Score!.Value.Mu, r.Score.Value.Sigma));
                while (_scores.Count > _options.WindowSize)
                {
                    _scores.Dequeue();
                }
            }
        }

        if (!_pixels.Writer.TryWrite([.. ok.Select(r => r.Request.Image)]))
        {
            Interlocked.Increment(ref _pixelBatchesSkipped);
        }
    }

    /// <summary>Waits until the pixel worker has caught up (for tests and reports).</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        while (_pixels.Reader.Count > 0 || Volatile.Read(ref _busy) != 0)
        {
            await Task.Delay(5, ct).ConfigureAwait(false);
        }
    }

    private int _busy;

    private async Task DrainPixelsAsync()
    {
        await foreach (var batch in _pixels.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            Volatile.Write(ref _busy, 1);
            try
            {
                foreach (var image in batch)
                {
                    double? share = SaturatedShare(image);
                    if (share is { } v)
                    {
                        lock (_gate)
                        {
                            _saturation.Enqueue(v);
                            while (_saturation.Count > _options.WindowSize)
                            {
                                _saturation.Dequeue();
                            }
                        }
                    }
                }
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }
    }

    private double? SaturatedShare(ImageInput image)
    {
        try
        {
            var rgb = image.Rgb is { } raw ? raw : ImageDecoder.Decode(image).Pixels;
            return SaturatedShare(rgb.Span, _options.SaturatedPixelSaturation, _options.SaturatedMinValue);
        }
        catch (Exception ex) when (ex is ImageDecodeException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null; // the scorer reported this item already; the monitor just has no pixels for it
        }
    }

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

    /// <summary>The monitors over the current window, as <c>GET /v1/monitor</c> answers them.</summary>
    public JsonObject Snapshot()
    {
        (long Seq, string Prompt, double Mu, double Sigma)[] items;
        double[] sat;
        lock (_gate)
        {
            items = [.. _scores];
            sat = [.. _saturation];
        }

        var alerts = new JsonArray();

        // Spread: std of μ within each prompt group of at least two items.
        var groups = items.GroupBy(i => i.Prompt, StringComparer.Ordinal).Where(g => g.Count() >= 2)
            .Select(g => Std(g.Select(i => i.Mu).ToArray())).ToArray();
        double collapseAt = _calibration is { Std: > 0 } c ? _options.CollapseFractionOfReferenceStd * c.Std : _options.CollapseStd;
        int collapsed = groups.Count(s => s < collapseAt);
        bool spreadAlert = groups.Length > 0 && collapsed >= _options.CollapsedGroupShareAlert * groups.Length;
        if (spreadAlert)
        {
            alerts.Add("spread");
        }

        double satMean = sat.Length > 0 ? sat.Average() : double.NaN;
        bool satAlert = sat.Length > 0 && satMean > _options.SaturatedShareAlert;
        if (satAlert)
        {
            alerts.Add("saturated_share");
        }

        // σ trend: least-squares slope of σ over arrival order, and the newer half against the older half.
        double meanSigma = items.Length > 0 ? items.Average(i => i.Sigma) : double.NaN;
        double slope = Slope(items.Select(i => i.Sigma).ToArray()) * 1000;
        int half = items.Length / 2;
        double older = half > 0 ? items.Take(half).Average(i => i.Sigma) : double.NaN;
        double newer = half > 0 ? items.Skip(half).Average(i => i.Sigma) : double.NaN;
        double ratio = older > 0 ? newer / older : double.NaN;
        bool sigmaAlert = half >= 8 && ratio > _options.SigmaRiseAlert;
        if (sigmaAlert)
        {
            alerts.Add("sigma_trend");
        }

        JsonNode? drift = null;
        if (_calibration is { } cal && items.Length > 0)
        {
            double meanMu = items.Average(i => i.Mu);
            double z = cal.Std > 0 ? (meanMu - cal.Mean) / cal.Std : double.NaN;
            bool driftAlert = z > _options.DriftAlertZ;
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
                ["mean_percentile"] = items.Average(i => cal.Percentile(i.Mu)),
                ["threshold_z"] = _options.DriftAlertZ,
                ["alert"] = driftAlert,
            };
        }

        return new JsonObject
        {
            ["window"] = new JsonObject
            {
                ["size"] = _options.WindowSize,
                ["items"] = items.Length,
                ["first_seq"] = items.Length > 0 ? items[0].Seq : null,
                ["last_seq"] = items.Length > 0 ? items[^1].Seq : null,
            },
            ["groups"] = new JsonObject
            {
                ["prompts"] = items.Select(i => i.Prompt).Distinct(StringComparer.Ordinal).Count(),
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
            ["saturated_share"] = new JsonObject
            {
                ["mean"] = Num(satMean),
                ["images"] = sat.Length,
                ["threshold"] = _options.SaturatedShareAlert,
                ["batches_skipped"] = Interlocked.Read(ref _pixelBatchesSkipped),
                ["alert"] = satAlert,
            },
            ["mean_sigma"] = Num(meanSigma),
            ["sigma_trend"] = new JsonObject
            {
                ["slope_per_1000"] = Num(slope),
                ["older_half_mean"] = Num(older),
                ["newer_half_mean"] = Num(newer),
                ["ratio"] = Num(ratio),
                ["threshold_ratio"] = _options.SigmaRiseAlert,
                ["alert"] = sigmaAlert,
            },
            ["drift"] = drift,
            ["alerts"] = alerts,
        };
    }

    /// <summary>The monitors as Prometheus gauges (appended to <c>/metrics</c>).</summary>
    public string RenderPrometheus()
    {
        var s = Snapshot();
        var sb = new StringBuilder();
        void Gauge(string name, string help, JsonNode? value, string? labels = null)
        {
            if (labels is null)
            {
                sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n').Append("# TYPE ").Append(name).Append(" gauge\n");
            }

            // Values are ints, doubles or booleans; the JSON text reads back as a double for all numbers.
            double v = value?.GetValueKind() switch
            {
                System.Text.Json.JsonValueKind.True => 1,
                System.Text.Json.JsonValueKind.False => 0,
                System.Text.Json.JsonValueKind.Number => double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture),
                _ => double.NaN,
            };
            sb.Append(name).Append(labels ?? string.Empty).Append(' ').Append(double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }

        Gauge("hps_monitor_window_items", "Scored items in the monitors' sliding window.", s["window"]!["items"]);
        Gauge("hps_monitor_group_spread_mean_std", "Mean std of mu within prompt groups of the window.", s["spread"]!["mean_std"]);
        Gauge("hps_monitor_collapsed_groups", "Prompt groups whose mu std is below the collapse threshold.", s["spread"]!["collapsed_groups"]);
        Gauge("hps_monitor_saturated_share", "Mean share of highly saturated pixels per image in the window.", s["saturated_share"]!["mean"]);
        Gauge("hps_monitor_mean_sigma", "Mean sigma of the window.", s["mean_sigma"]);
        Gauge("hps_monitor_sigma_slope_per_1000", "Least-squares slope of sigma per 1000 items.", s["sigma_trend"]!["slope_per_1000"]);
        Gauge("hps_monitor_drift_z", "(window mean mu - reference mean) / reference std; NaN without a calibration.", s["drift"]?["z"]);
        sb.Append("# HELP hps_monitor_alert 1 when a monitor fires.\n# TYPE hps_monitor_alert gauge\n");
        Gauge("hps_monitor_alert", string.Empty, s["spread"]!["alert"], "{monitor=\"spread\"}");
        Gauge("hps_monitor_alert", string.Empty, s["saturated_share"]!["alert"], "{monitor=\"saturated_share\"}");
        Gauge("hps_monitor_alert", string.Empty, s["sigma_trend"]!["alert"], "{monitor=\"sigma_trend\"}");
        Gauge("hps_monitor_alert", string.Empty, s["drift"]?["alert"] ?? false, "{monitor=\"drift\"}");
        return sb.ToString();
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

    public void Dispose()
    {
        _pixels.Writer.TryComplete();
        _worker.Wait(TimeSpan.FromSeconds(5));
    }
}
