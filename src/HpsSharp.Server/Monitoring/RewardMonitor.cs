using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Server.Monitoring;

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

    private double? SaturatedShare(ImageInput image) => RewardMonitors.SaturatedShare(image, _options);

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

        // The computation is shared with `hps eval --report` (Core): only the window is the service's own.
        var window = new JsonObject
        {
            ["size"] = _options.WindowSize,
            ["items"] = items.Length,
            ["first_seq"] = items.Length > 0 ? items[0].Seq : null,
            ["last_seq"] = items.Length > 0 ? items[^1].Seq : null,
        };
        return RewardMonitors.Summarize(
            [.. items.Select(i => new MonitoredScore(i.Prompt, i.Mu, i.Sigma))], sat, _calibration, _options, window,
            new Dictionary<string, JsonNode?> { ["batches_skipped"] = Interlocked.Read(ref _pixelBatchesSkipped) });
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

    public void Dispose()
    {
        _pixels.Writer.TryComplete();
        _worker.Wait(TimeSpan.FromSeconds(5));
    }
}
