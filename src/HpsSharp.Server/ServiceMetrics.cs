using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace HpsSharp.Server;

/// <summary>
/// The service's counters, gauges and histograms, rendered in the Prometheus text format (version 0.0.4) by
/// <c>GET /metrics</c>. Kept by hand rather than through a metrics package: a handful of series, no dependency.
/// </summary>
public sealed class ServiceMetrics
{
    private static readonly double[] LatencyBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly ConcurrentDictionary<(string Endpoint, int Code), long> _requests = new();
    private readonly ConcurrentDictionary<string, Histogram> _requestSeconds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _items = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _rejected = new(StringComparer.Ordinal);
    private readonly Histogram _batchSize;
    private readonly Histogram _batchSeconds = new(LatencyBounds);
    private readonly Histogram _queueWaitSeconds = new(LatencyBounds);
    private readonly ConcurrentDictionary<string, Histogram> _parseSeconds = new(StringComparer.Ordinal);
    private long _batches;

    public ServiceMetrics(int maxBatchSize)
    {
        // One bucket per size when that is few enough, so the exact batch-size distribution can be read back.
        var bounds = maxBatchSize <= 64
            ? Enumerable.Range(1, maxBatchSize).Select(i => (double)i).ToArray()
            : Enumerable.Range(0, 31).Select(i => (double)(1 << i)).TakeWhile(b => b < maxBatchSize).Append(maxBatchSize).ToArray();
        _batchSize = new Histogram(bounds);
    }

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

    public void RecordRequest(string endpoint, int code, double seconds)
    {
        _requests.AddOrUpdate((endpoint, code), 1, (_, v) => v + 1);
        _requestSeconds.GetOrAdd(endpoint, _ => new Histogram(LatencyBounds)).Observe(seconds);
    }

    /// <summary>Counts items by outcome: ok, error (scored with an error, or rejected by validation), dropped (client gone).</summary>
    public void RecordItems(string outcome, int count)
    {
        if (count > 0)
        {
            _items.AddOrUpdate(outcome, count, (_, v) => v + count);
        }
    }

    public void RecordRejected(string reason) => _rejected.AddOrUpdate(reason, 1, (_, v) => v + 1);

    public void RecordBatch(int size, double seconds)
    {
        Interlocked.Increment(ref _batches);
        _batchSize.Observe(size);
        _batchSeconds.Observe(seconds);
    }

    public void RecordQueueWait(double seconds) => _queueWaitSeconds.Observe(seconds);

    /// <summary>Time spent reading and checking one request body, by body kind ("json" or "multipart").</summary>
    public void RecordParse(string kind, double seconds) => _parseSeconds.GetOrAdd(kind, _ => new Histogram(LatencyBounds)).Observe(seconds);

    /// <summary>Item count for an outcome (for tests and the load test).</summary>
    public long Items(string outcome) => _items.TryGetValue(outcome, out var v) ? v : 0;

    /// <summary>The Prometheus text exposition.</summary>
    public string Render()
    {
        var sb = new StringBuilder(4096);
        Header(sb, "hps_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
        foreach (var ((endpoint, code), v) in _requests.OrderBy(k => k.Key.Endpoint, StringComparer.Ordinal).ThenBy(k => k.Key.Code))
        {
            Line(sb, "hps_requests_total", $"endpoint=\"{Escape(endpoint)}\",code=\"{code}\"", v);
        }

        Header(sb, "hps_request_duration_seconds", "histogram", "Time from request start to response, by endpoint.");
        foreach (var (endpoint, h) in _requestSeconds.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            h.Write(sb, "hps_request_duration_seconds", $"endpoint=\"{Escape(endpoint)}\"");
        }

        Header(sb, "hps_items_total", "counter", "Scoring items, by outcome (ok, error, dropped = client disconnected before scoring).");
        foreach (var outcome in new[] { "ok", "error", "dropped" })
        {
            Line(sb, "hps_items_total", $"outcome=\"{outcome}\"", Items(outcome));
        }

        Header(sb, "hps_rejected_requests_total", "counter", "Requests refused before scoring, by reason.");
        foreach (var (reason, v) in _rejected.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            Line(sb, "hps_rejected_requests_total", $"reason=\"{Escape(reason)}\"", v);
        }

        Header(sb, "hps_batches_total", "counter", "Batches handed to the scorer.");
        Line(sb, "hps_batches_total", null, Batches);
        Header(sb, "hps_batch_size", "histogram", "Items per scorer batch.");
        _batchSize.Write(sb, "hps_batch_size", null);
        Header(sb, "hps_batch_duration_seconds", "histogram", "Time the scorer took per batch.");
        _batchSeconds.Write(sb, "hps_batch_duration_seconds", null);
        Header(sb, "hps_queue_wait_seconds", "histogram", "Time an item waited in the queue before its batch started.");
        _queueWaitSeconds.Write(sb, "hps_queue_wait_seconds", null);
        Header(sb, "hps_parse_duration_seconds", "histogram", "Time spent reading and checking a request body on the request thread, by body kind.");
        foreach (var (kind, h) in _parseSeconds.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            h.Write(sb, "hps_parse_duration_seconds", $"kind=\"{Escape(kind)}\"");
        }

        Header(sb, "hps_queue_depth", "gauge", "Items waiting in the queue.");
        Line(sb, "hps_queue_depth", null, QueueDepth());
        Header(sb, "hps_queue_capacity", "gauge", "Items the queue holds at most.");
        Line(sb, "hps_queue_capacity", null, QueueCapacity);
        Header(sb, "hps_model_ready", "gauge", "1 when the model is loaded and work is accepted.");
        Line(sb, "hps_model_ready", null, Ready() ? 1 : 0);
        Header(sb, "hps_inflight_requests", "gauge", "Scoring requests admitted and not yet answered.");
        Line(sb, "hps_inflight_requests", null, InFlightRequests());
        Header(sb, "hps_inflight_bytes", "gauge", "Request body bytes reserved against the in-flight budget.");
        Line(sb, "hps_inflight_bytes", null, InFlightBytes());
        return sb.ToString();
    }

    private static void Header(StringBuilder sb, string name, string type, string help)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    private static void Line(StringBuilder sb, string name, string? labels, double value)
    {
        sb.Append(name);
        if (!string.IsNullOrEmpty(labels))
        {
            sb.Append('{').Append(labels).Append('}');
        }

        sb.Append(' ').Append(Format(value)).Append('\n');
    }

    private static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : v.ToString("R", CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private readonly Lock _lock = new();
        private double _sum;

        public void Observe(double value)
        {
            int i = Array.BinarySearch(bounds, value);
            if (i < 0)
            {
                i = ~i;
            }

            lock (_lock)
            {
                _counts[i]++;
                _sum += value;
            }
        }

        public void Write(StringBuilder sb, string name, string? labels)
        {
            long[] counts;
            double sum;
            lock (_lock)
            {
                counts = (long[])_counts.Clone();
                sum = _sum;
            }

            string prefix = string.IsNullOrEmpty(labels) ? string.Empty : labels + ",";
            long cumulative = 0;
            for (int i = 0; i < bounds.Length; i++)
            {
                cumulative += counts[i];
                Line(sb, name + "_bucket", $"{prefix}le=\"{Format(bounds[i])}\"", cumulative);
            }

            cumulative += counts[^1];
            Line(sb, name + "_bucket", $"{prefix}le=\"+Inf\"", cumulative);
            Line(sb, name + "_sum", labels, sum);
            Line(sb, name + "_count", labels, cumulative);
        }
    }
}
