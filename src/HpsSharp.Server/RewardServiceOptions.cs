using HpsSharp.Core;

namespace HpsSharp.Server;

/// <summary>Settings of the reward service. Defaults are safe for a single machine: loopback only, no local paths.</summary>
public sealed record RewardServiceOptions
{
    /// <summary>Addresses to listen on. Loopback by default; anything else must be asked for.</summary>
    public IReadOnlyList<string> Urls { get; init; } = ["http://127.0.0.1:8080"];

    /// <summary>Most items the worker hands to the scorer in one call.</summary>
    public int MaxBatchSize { get; init; } = 8;

    /// <summary>How long the worker waits for more items after the first one of a batch arrives.</summary>
    public int MaxWaitMs { get; init; } = 5;

    /// <summary>
    /// Hand the next batch to the scorer as soon as it is full, while the current one is still being scored (at most
    /// two in flight), so its images are decoded and resized while the model runs. Off: one batch at a time.
    /// </summary>
    public bool PrepareAhead { get; init; } = true;

    /// <summary>Items that may wait in the queue; a request that does not fit is answered 503 with Retry-After.</summary>
    public int QueueCapacity { get; init; } = 1024;

    /// <summary>Most items in one request (413 above it). At most <see cref="QueueCapacity"/>.</summary>
    public int MaxItemsPerRequest { get; init; } = 256;

    /// <summary>Largest request body in bytes (413 above it).</summary>
    public long MaxRequestBodyBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Largest image, in pixels (width × height, read from the image header before decoding).</summary>
    public long MaxDecodedPixels { get; init; } = 40_000_000;

    /// <summary>When set, every endpoint except /healthz and /readyz requires <c>Authorization: Bearer KEY</c>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>When set, items may name a file by <c>"path"</c>, relative to this folder and never outside it.</summary>
    public string? ImageRoot { get; init; }

    /// <summary>Seconds a client is told to wait (Retry-After) when the queue is full or the model is not ready.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>
    /// Global budget for request bodies in flight, in bytes: each scoring request reserves its Content-Length (or
    /// <see cref="MaxRequestBodyBytes"/> when chunked) before its body is read, holds it until it is answered, and is
    /// answered 503 with Retry-After when the reservation does not fit. Bounds the memory that concurrent large
    /// bodies can take. At least <see cref="MaxRequestBodyBytes"/>.
    /// </summary>
    public long MaxInflightBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// On shutdown (SIGTERM, Ctrl+C, host stop): how long requests already accepted may take to be answered. New
    /// scoring requests are answered 503 at once; after this time whatever is left is cancelled.
    /// </summary>
    public int DrainTimeoutSeconds { get; init; } = 30;

    /// <summary>How long reading one image file under <see cref="ImageRoot"/> may take before the item is refused.</summary>
    public int FileReadTimeoutMs { get; init; } = 10_000;

    /// <summary>
    /// A reference-set calibration (<c>hps calibrate</c>): results then carry <c>percentile</c>, requests may ask
    /// for <c>"reward": "percentile"</c>, and the monitor reports drift against it.
    /// </summary>
    public HpsSharp.Core.Scoring.Calibration? Calibration { get; init; }

    /// <summary>
    /// Calibrations of the other hosted scorers (a <see cref="ScorerSet"/>), keyed by scorer name; the primary's is
    /// <see cref="Calibration"/>. A <c>"rewards"</c> mix sums percentiles when every scorer in it has one.
    /// </summary>
    public IReadOnlyDictionary<string, HpsSharp.Core.Scoring.Calibration> Calibrations { get; init; } = new Dictionary<string, HpsSharp.Core.Scoring.Calibration>(StringComparer.Ordinal);

    /// <summary>
    /// How answers name the host's option fields when they advise the operator (<c>Calibration</c>; the
    /// <c>hps serve</c> command passes one that prints its flags); default: the field names.
    /// </summary>
    public IFormatProvider? OptionNames { get; init; }

    /// <summary>Advice text with its option fields named through <see cref="OptionNames"/>.</summary>
    internal string Advise(FormattableString text) => text.ToString(OptionNames ?? System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Thresholds and window of the reward-hacking monitors (<c>GET /v1/monitor</c>, <c>/metrics</c>).</summary>
    public Core.Scoring.MonitorOptions Monitor { get; init; } = new();

    /// <summary>Throws <see cref="UserInputException"/> naming the first setting that is out of range.</summary>
    public void Validate()
    {
        Require(Urls is { Count: > 0 }, "urls", "at least one address is needed");
        Require(MaxBatchSize >= 1, "max batch size", $"must be at least 1 (got {MaxBatchSize})");
        Require(MaxWaitMs >= 0, "max wait ms", $"must not be negative (got {MaxWaitMs})");
        Require(QueueCapacity >= 1, "queue capacity", $"must be at least 1 (got {QueueCapacity})");
        Require(MaxItemsPerRequest >= 1 && MaxItemsPerRequest <= QueueCapacity, "max items per request",
            $"must be between 1 and the queue capacity {QueueCapacity} (got {MaxItemsPerRequest})");
        Require(MaxRequestBodyBytes >= 1024, "max request body bytes", $"must be at least 1024 (got {MaxRequestBodyBytes})");
        Require(MaxDecodedPixels >= 1, "max decoded pixels", $"must be at least 1 (got {MaxDecodedPixels})");
        Require(RetryAfterSeconds >= 1, "retry after seconds", $"must be at least 1 (got {RetryAfterSeconds})");
        Require(ApiKey is null || ApiKey.Length > 0, "api key", "must not be empty when given");
        Require(MaxInflightBytes >= MaxRequestBodyBytes, "max inflight bytes", $"must be at least the largest body, {MaxRequestBodyBytes} bytes (got {MaxInflightBytes})");
        Require(DrainTimeoutSeconds >= 0, "drain timeout seconds", $"must not be negative (got {DrainTimeoutSeconds})");
        Require(FileReadTimeoutMs >= 1, "file read timeout ms", $"must be at least 1 (got {FileReadTimeoutMs})");
        Require(Monitor.PixelSampleShare is >= 0 and <= 1, "monitor pixel sample share", $"must be between 0 and 1 (got {Monitor.PixelSampleShare})");
        if (ImageRoot is not null && !Directory.Exists(ImageRoot))
        {
            throw new UserInputException("image root", $"folder '{ImageRoot}' does not exist");
        }
    }

    private static void Require(bool ok, string name, string reason)
    {
        if (!ok)
        {
            throw new UserInputException(name, reason);
        }
    }
}
