using System.Diagnostics.Metrics;
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
/// background worker over a sample of the images (<see cref="MonitorOptions.PixelSampleShare"/>, one in ten by default),
/// which skips batches rather than slow the service when it falls behind.
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

    // Bumped on every change to the window, so the gauges can reuse one snapshot per scrape.
    private long _version;
    private CachedMonitors? _cached;

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

        Interlocked.Increment(ref _version);
        var sample = Sample(ok);
        if (sample.Length > 0 && !_pixels.Writer.TryWrite(sample))
        {
            Interlocked.Increment(ref _pixelBatchesSkipped);
            Interlocked.Increment(ref _version);
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

    // Images offered to the pixel monitor so far; image n is measured when n × share crosses an integer there.
    private long _offered;

    /// <summary>The images of <paramref name="ok"/> that fall in the systematic sample (<see cref="MonitorOptions.PixelSampleShare"/>).</summary>
    private ImageInput[] Sample(List<ScoreResult> ok)
    {
        double share = _options.PixelSampleShare;
        long first = Interlocked.Add(ref _offered, ok.Count) - ok.Count;
        var picked = new List<ImageInput>();
        for (int i = 0; i < ok.Count; i++)
        {
            long n = first + i;
            // Ceiling, so the very first image is measured (a quiet service gets a reading at once).
            if (share >= 1 || Math.Ceiling((n + 1) * share) > Math.Ceiling(n * share))
            {
                picked.Add(ok[i].Request.Image);
            }
        }

        return [.. picked];
    }

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

                        Interlocked.Increment(ref _version);
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

    /// <summary>
    /// Publishes the monitors as gauges on the service's meter (<c>hps_monitor_*</c> on <c>/metrics</c>). One scrape
    /// reads every gauge; they share one snapshot, recomputed only when the window has changed since the last one.
    /// </summary>
    public void AddGauges(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        Func<double> Gauge(Func<JsonObject, JsonNode?> pick) => () => Number(pick(CachedSnapshot()));
        meter.CreateObservableGauge("hps_monitor_window_items", () => (long)Number(CachedSnapshot()["window"]!["items"]), null, "Scored items in the monitors' sliding window.");
        meter.CreateObservableGauge("hps_monitor_group_spread_mean_std", Gauge(s => s["spread"]!["mean_std"]), null, "Mean std of mu within prompt groups of the window.");
        meter.CreateObservableGauge("hps_monitor_collapsed_groups", () => (long)Number(CachedSnapshot()["spread"]!["collapsed_groups"]), null, "Prompt groups whose mu std is below the collapse threshold.");
        meter.CreateObservableGauge("hps_monitor_saturated_share", Gauge(s => s["saturated_share"]!["mean"]), null, "Mean share of highly saturated pixels per image in the window.");
        meter.CreateObservableGauge("hps_monitor_mean_sigma", Gauge(s => s["mean_sigma"]), null, "Mean sigma of the window.");
        meter.CreateObservableGauge("hps_monitor_sigma_slope_per_1000", Gauge(s => s["sigma_trend"]!["slope_per_1000"]), null, "Least-squares slope of sigma per 1000 items.");
        meter.CreateObservableGauge("hps_monitor_drift_z", Gauge(s => s["drift"]?["z"]), null, "(window mean mu - reference mean) / reference std; NaN without a calibration.");
        meter.CreateObservableGauge("hps_monitor_alert", () =>
        {
            var s = CachedSnapshot();
            return new[]
            {
                Alert("spread", s["spread"]!["alert"]), Alert("saturated_share", s["saturated_share"]!["alert"]),
                Alert("sigma_trend", s["sigma_trend"]!["alert"]), Alert("drift", s["drift"]?["alert"]),
            };
        }, null, "1 when a monitor fires.");

        static Measurement<int> Alert(string monitor, JsonNode? fired) =>
            new(Number(fired) == 1 ? 1 : 0, new KeyValuePair<string, object?>("monitor", monitor));
    }

    /// <summary>A JSON number or boolean as a double (true = 1, false = 0); NaN for null or anything else.</summary>
    private static double Number(JsonNode? value) => value?.GetValueKind() switch
    {
        System.Text.Json.JsonValueKind.True => 1,
        System.Text.Json.JsonValueKind.False => 0,
        // A node built from an int does not convert to double through GetValue; its JSON text always parses.
        System.Text.Json.JsonValueKind.Number => double.Parse(value.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture),
        _ => double.NaN,
    };

    private JsonObject CachedSnapshot()
    {
        long version = Interlocked.Read(ref _version);
        var cached = Volatile.Read(ref _cached);
        if (cached is not null && cached.Version == version)
        {
            return cached.Snapshot;
        }

        var fresh = new CachedMonitors(version, Snapshot());
        Volatile.Write(ref _cached, fresh);
        return fresh.Snapshot;
    }

    private sealed record CachedMonitors(long Version, JsonObject Snapshot);

    public void Dispose()
    {
        _pixels.Writer.TryComplete();
        _worker.Wait(TimeSpan.FromSeconds(5));
    }
}
