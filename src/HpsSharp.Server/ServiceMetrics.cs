using System.Diagnostics.Metrics;

namespace HpsSharp.Server;

/// <summary>
/// The service's counters, gauges and histograms as <see cref="System.Diagnostics.Metrics"/> instruments on one
/// <see cref="Meter"/> (<see cref="MeterName"/>). <c>GET /metrics</c> exports them in the Prometheus text format
/// through OpenTelemetry's Prometheus exporter (<see cref="RewardService"/> wires it); any other
/// <see cref="MeterListener"/> (dotnet-counters, an OTLP exporter) can read the same instruments. Instrument names are
/// the Prometheus series names (<c>hps_*</c>, counters already ending in <c>_total</c>, durations in
/// <c>_seconds</c>), so the exporter writes them unchanged.
/// </summary>
public sealed class ServiceMetrics : IDisposable
{
    /// <summary>The name of the service's meter.</summary>
    public const string MeterName = "HpsSharp.Server";

    /// <summary>Bucket upper bounds (seconds) of every duration histogram.</summary>
    public static readonly IReadOnlyList<double> LatencyBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>Outcomes of <c>hps_items_total</c>.</summary>
    private static readonly string[] Outcomes = ["ok", "error", "dropped"];

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _requestSeconds;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _batchesTotal;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _batchSeconds;
    private readonly Histogram<double> _queueWaitSeconds;
    private readonly Histogram<double> _parseSeconds;

    // Items by outcome: exported through an observable counter, and read back by tests.
    private readonly long[] _itemCounts = new long[Outcomes.Length];
    private long _batches;

    /// <param name="maxBatchSize">The largest batch, for the batch-size buckets.</param>
    public ServiceMetrics(int maxBatchSize)
    {
        // A meter per instance (not a static one): two services in one process keep their numbers apart.
        _meter = new Meter(MeterName);
        _requests = _meter.CreateCounter<long>("hps_requests_total", null, "HTTP requests answered, by endpoint and status code.");
        _requestSeconds = Seconds("hps_request_duration_seconds", "Time from request start to response, by endpoint.");
        // Observed from the tallies below, so every outcome is exported from zero (a measurement recorded before the
        // exporter listens would be lost, and a rate over a series that appears late is undefined until it does).
        _meter.CreateObservableCounter("hps_items_total", () => Outcomes.Select((o, i) =>
            new Measurement<long>(Interlocked.Read(ref _itemCounts[i]), new KeyValuePair<string, object?>("outcome", o))), null,
            "Scoring items, by outcome (ok, error, dropped = client disconnected before scoring).");
        _rejected = _meter.CreateCounter<long>("hps_rejected_requests_total", null, "Requests refused before scoring, by reason.");
        _batchesTotal = _meter.CreateCounter<long>("hps_batches_total", null, "Batches handed to the scorer.");

        // One bucket per size when that is few enough, so the exact batch-size distribution can be read back.
        var bounds = maxBatchSize <= 64
            ? Enumerable.Range(1, maxBatchSize).ToArray()
            : [.. Enumerable.Range(0, 31).Select(i => 1 << i).TakeWhile(b => b < maxBatchSize).Append(maxBatchSize)];
        _batchSize = _meter.CreateHistogram("hps_batch_size", null, "Items per scorer batch.", tags: null,
            new InstrumentAdvice<int> { HistogramBucketBoundaries = bounds });
        _batchSeconds = Seconds("hps_batch_duration_seconds", "Time the scorer took per batch.");
        _queueWaitSeconds = Seconds("hps_queue_wait_seconds", "Time an item waited in the queue before its batch started.");
        _parseSeconds = Seconds("hps_parse_duration_seconds", "Time spent reading and checking a request body on the request thread, by body kind.");

        _meter.CreateObservableGauge("hps_queue_depth", () => QueueDepth(), null, "Items waiting in the queue.");
        _meter.CreateObservableGauge("hps_queue_capacity", () => QueueCapacity, null, "Items the queue holds at most.");
        _meter.CreateObservableGauge("hps_model_ready", () => Ready() ? 1 : 0, null, "1 when the model is loaded and work is accepted.");
        _meter.CreateObservableGauge("hps_inflight_requests", () => InFlightRequests(), null, "Scoring requests admitted and not yet answered.");
        _meter.CreateObservableGauge("hps_inflight_bytes", () => InFlightBytes(), null, "Request body bytes reserved against the in-flight budget.");
    }

    /// <summary>The meter every instrument of this service lives on (the monitors add their gauges to it).</summary>
    public Meter Meter => _meter;

    /// <summary>Items waiting in the queue now (set by the queue).</summary>
    public Func<int> QueueDepth { get; set; } = () => 0;

    /// <summary>Capacity of the queue.</summary>
    public int QueueCapacity { get; set; }

    /// <summary>1 when the model is loaded and the worker accepts work.</summary>
    public Func<bool> Ready { get; set; } = () => false;

    /// <summary>Scoring requests admitted and not yet answered (set by <see cref="Admission"/>).</summary>
    public Func<int> InFlightRequests { get; set; } = () => 0;

    /// <summary>Body bytes reserved by those requests (set by <see cref="Admission"/>).</summary>
    public Func<long> InFlightBytes { get; set; } = () => 0;

    /// <summary>Batches the scorer was called with so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Counts an answered request and its duration.</summary>
    public void RecordRequest(string endpoint, int code, double seconds)
    {
        var e = new KeyValuePair<string, object?>("endpoint", endpoint);
        _requests.Add(1, e, new KeyValuePair<string, object?>("code", code));
        _requestSeconds.Record(seconds, e);
    }

    /// <summary>Counts items by outcome: ok, error (scored with an error, or rejected by validation), dropped (client gone).</summary>
    public void RecordItems(string outcome, int count)
    {
        int i = Array.IndexOf(Outcomes, outcome);
        if (i < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "expected ok, error or dropped");
        }

        if (count > 0)
        {
            Interlocked.Add(ref _itemCounts[i], count);
        }
    }

    /// <summary>Counts a request refused before scoring (unavailable, too_large, unauthorized).</summary>
    public void RecordRejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Records one scorer call: its size and how long it took.</summary>
    public void RecordBatch(int size, double seconds)
    {
        Interlocked.Increment(ref _batches);
        _batchesTotal.Add(1);
        _batchSize.Record(size);
        _batchSeconds.Record(seconds);
    }

    /// <summary>Records how long an item waited in the queue before its batch started.</summary>
    public void RecordQueueWait(double seconds) => _queueWaitSeconds.Record(seconds);

    /// <summary>Time spent reading and checking one request body, by body kind ("json" or "multipart").</summary>
    public void RecordParse(string kind, double seconds) => _parseSeconds.Record(seconds, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>Item count for an outcome (for tests and the load test).</summary>
    public long Items(string outcome)
    {
        int i = Array.IndexOf(Outcomes, outcome);
        return i < 0 ? 0 : Interlocked.Read(ref _itemCounts[i]);
    }

    /// <inheritdoc/>
    public void Dispose() => _meter.Dispose();

    private Histogram<double> Seconds(string name, string description) =>
        _meter.CreateHistogram(name, "s", description, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBounds });
}
