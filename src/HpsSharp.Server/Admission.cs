using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HpsSharp.Server;

/// <summary>
/// Admission of scoring requests (<c>POST /v1/*</c>): a global budget for request bytes in flight, and the drain on
/// shutdown. A request reserves its size before a byte of its body is read and keeps the reservation until it is
/// answered; what does not fit is answered 503 with Retry-After at once, so concurrent large bodies cannot grow
/// memory without bound. Once shutdown begins, new scoring requests are answered 503 and the host waits (up to
/// <see cref="RewardServiceOptions.DrainTimeoutSeconds"/>) until every request admitted before has been answered.
/// </summary>
public sealed partial class Admission : IHostedLifecycleService
{
    private readonly RewardServiceOptions options;
    private readonly ILogger<Admission> logger;
    private readonly ScoringQueue queue;
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _reservedBytes;
    private int _inFlight;
    private bool _draining;

    public Admission(RewardServiceOptions options, ServiceMetrics metrics, ScoringQueue queue, ILogger<Admission> logger)
    {
        ArgumentNullException.ThrowIfNull(queue);
        this.queue = queue;
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        this.options = options;
        this.logger = logger;
        metrics.InFlightRequests = () => InFlight;
        metrics.InFlightBytes = () => ReservedBytes;
    }

    /// <summary>Bytes reserved by requests being read, queued or scored now.</summary>
    public long ReservedBytes
    {
        get
        {
            lock (_gate)
            {
                return _reservedBytes;
            }
        }
    }

    /// <summary>Scoring requests admitted and not yet answered.</summary>
    public int InFlight
    {
        get
        {
            lock (_gate)
            {
                return _inFlight;
            }
        }
    }

    /// <summary>True once shutdown has begun: new scoring requests are refused.</summary>
    public bool Draining
    {
        get
        {
            lock (_gate)
            {
                return _draining;
            }
        }
    }

    /// <summary>The middleware: admits, refuses with 503, and releases the reservation when the request ends.</summary>
    public async Task InvokeAsync(HttpContext ctx, RequestDelegate next)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(next);
        if (!HttpMethods.IsPost(ctx.Request.Method) || !(ctx.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)))
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }

        // A declared length above the body limit is answered 413 by the parser without reading the body: reserve at
        // most the limit for it. A chunked body of unknown length reserves the whole limit.
        long size = Math.Min(ctx.Request.ContentLength ?? options.MaxRequestBodyBytes, options.MaxRequestBodyBytes);
        RequestRejectedException? refusal = null;
        lock (_gate)
        {
            if (_draining)
            {
                refusal = new RequestRejectedException(503, "shutting down", "the service is stopping and takes no new requests; retry against another instance or after the restart");
            }
            else if (_reservedBytes + size > options.MaxInflightBytes)
            {
                refusal = new RequestRejectedException(503, "busy",
                    $"request bodies in flight hold {_reservedBytes} of {options.MaxInflightBytes} bytes and this one needs {size}; retry after {options.RetryAfterSeconds} s",
                    "max_inflight_bytes", options.MaxInflightBytes);
            }
            else
            {
                _reservedBytes += size;
                _inFlight++;
            }
        }

        if (refusal is not null)
        {
            ctx.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            if (refusal.Limit is null)
            {
                ctx.Response.Headers.Connection = "close";
            }

            await ScoringEndpoints.Problem(refusal).ExecuteAsync(ctx).ConfigureAwait(false);
            return;
        }

        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        finally
        {
            bool drainedNow;
            lock (_gate)
            {
                _reservedBytes -= size;
                _inFlight--;
                drainedNow = _draining && _inFlight == 0;
            }

            if (drainedNow)
            {
                _drained.TrySetResult();
            }
        }
    }

    /// <inheritdoc/>
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Shutdown, first step (the host calls every StoppingAsync before any StopAsync, so Kestrel still answers and
    /// the queue still scores): refuse new scoring requests, then wait until the admitted ones are answered or the
    /// drain timeout passes. The queue and Kestrel stop after that, with nothing left in flight.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        int waiting;
        lock (_gate)
        {
            _draining = true;
            waiting = _inFlight;
            if (waiting == 0)
            {
                _drained.TrySetResult();
            }
        }

        LogDraining(logger, waiting, options.DrainTimeoutSeconds);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.DrainTimeoutSeconds));
        await _drained.Task.WaitAsync(timeout.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!_drained.Task.IsCompleted)
        {
            LogDrainTimedOut(logger, InFlight, options.DrainTimeoutSeconds);
            queue.Abort(); // the waiting requests are answered 503 "shutting down"
        }
    }

    [LoggerMessage(10, LogLevel.Information, "Stopping: answering {Count} accepted request(s) (up to {Seconds} s); new requests get 503")]
    private static partial void LogDraining(ILogger logger, int count, int seconds);

    [LoggerMessage(11, LogLevel.Warning, "Drain timeout: {Count} request(s) still unanswered after {Seconds} s are cancelled")]
    private static partial void LogDrainTimedOut(ILogger logger, int count, int seconds);
}
