using System.Diagnostics;
using System.Threading.Channels;
using HpsSharp.Core.Scoring;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HpsSharp.Server;

/// <summary>Why <see cref="ScoringQueue.TryEnqueue"/> did or did not take a request's items.</summary>
public enum EnqueueStatus
{
    /// <summary>All items are queued; their results come through the returned tasks.</summary>
    Accepted,

    /// <summary>The items do not fit in the queue now (answer 503 with Retry-After).</summary>
    QueueFull,

    /// <summary>The model is still loading, failed to load, or the service is shutting down (answer 503).</summary>
    NotReady,
}

/// <summary>
/// The micro-batcher. One worker owns the scorer and drains a queue of single items: it takes the first waiting
/// item, then more until <see cref="RewardServiceOptions.MaxBatchSize"/> items or
/// <see cref="RewardServiceOptions.MaxWaitMs"/> have passed, and calls the scorer once. While that batch is scored, the
/// next one is handed to the scorer as soon as a full batch is waiting (at most two in flight;
/// <see cref="RewardServiceOptions.PrepareAhead"/>), so its images are prepared while the model runs the current one. Items of one request may
/// land in different batches; each has its own completion, so the request reassembles them in input order.
/// Capacity is reserved per request, so a request is queued whole or refused whole. Items whose client has
/// disconnected are dropped before scoring. Stopping refuses new work, finishes what is queued, then returns.
/// </summary>
public sealed partial class ScoringQueue : IHostedService, IAsyncDisposable
{
    private readonly Func<CancellationToken, Task<IScorer>> _scorerFactory;
    private readonly bool _ownsScorer;
    private readonly RewardServiceOptions _options;
    private readonly ServiceMetrics _metrics;
    private readonly ILogger _logger;
    private readonly IHostApplicationLifetime? _lifetime;
    private readonly Channel<WorkItem> _channel = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _hardStop = new();

    // Completed (and replaced) whenever a request's items are queued: wakes the worker while a batch is in flight.
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _worker;
    private IScorer? _scorer;
    private volatile bool _ready;
    private bool _accepting = true;
    private int _pending;
    private int _inChannel; // items written to the channel and not yet read (_pending also counts reservations)
    private int _disposed;

    public ScoringQueue(
        Func<CancellationToken, Task<IScorer>> scorerFactory,
        bool ownsScorer,
        RewardServiceOptions options,
        ServiceMetrics metrics,
        ILogger<ScoringQueue> logger,
        IHostApplicationLifetime? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(scorerFactory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(logger);
        _scorerFactory = scorerFactory;
        _ownsScorer = ownsScorer;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _lifetime = lifetime;
        _metrics.QueueDepth = () => Volatile.Read(ref _pending);
        _metrics.QueueCapacity = options.QueueCapacity;
        _metrics.Ready = () => IsReady;
    }

    /// <summary>True once the scorer is loaded, until shutdown begins.</summary>
    public bool IsReady => _ready;

    /// <summary>Why the scorer could not be loaded, when it could not.</summary>
    public Exception? LoadError { get; private set; }

    /// <summary>The loaded scorer's model description, or null while loading.</summary>
    public ModelInfo? Model => _scorer?.Model;

    /// <summary>The loaded scorer (a <see cref="ScorerSet"/> when several are hosted); null until loaded.</summary>
    public IScorer? Scorer => _ready ? _scorer : null;

    /// <summary>Items waiting to be scored.</summary>
    public int Depth => Volatile.Read(ref _pending);

    /// <summary>
    /// Queues every item of one request, or none. On success <paramref name="results"/> holds one task per item in
    /// input order; a task is cancelled when its item was dropped because <paramref name="requestAborted"/> fired.
    /// </summary>
    public EnqueueStatus TryEnqueue(IReadOnlyList<ScoreRequest> items, CancellationToken requestAborted, out Task<ScoreResult>[] results)
    {
        ArgumentNullException.ThrowIfNull(items);
        results = [];
        if (!_ready)
        {
            return EnqueueStatus.NotReady;
        }

        int n = items.Count;
        while (true)
        {
            int current = Volatile.Read(ref _pending);
            if (current + n > _options.QueueCapacity)
            {
                return EnqueueStatus.QueueFull;
            }

            if (Interlocked.CompareExchange(ref _pending, current + n, current) == current)
            {
                break;
            }
        }

        var tasks = new Task<ScoreResult>[n];
        long now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            if (!_accepting)
            {
                Interlocked.Add(ref _pending, -n);
                return EnqueueStatus.NotReady;
            }

            for (int i = 0; i < n; i++)
            {
                var item = new WorkItem(items[i], requestAborted, now);
                tasks[i] = item.Completion.Task;

                // Unbounded channel: capacity is enforced by the reservation above, so the write cannot fail.
                _channel.Writer.TryWrite(item);
            }

            Interlocked.Add(ref _inChannel, n);
        }

        Interlocked.Exchange(ref _arrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

        results = tasks;
        return EnqueueStatus.Accepted;
    }

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _worker = Task.Run(() => RunAsync(_hardStop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Refuses new work, scores everything already queued, then releases the scorer.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _ready = false;
        lock (_gate)
        {
            _accepting = false;
            _channel.Writer.TryComplete();
        }

        if (_worker is null)
        {
            return;
        }

        // When the host's shutdown timeout fires, the batch in flight is cancelled and what is left is failed; a
        // model still loading is not waited for (loading cannot be interrupted).
        await using var reg = cancellationToken.Register(() => _hardStop.Cancel());
        await _worker.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Cancels the batch being scored and fails everything queued (the drain timeout has passed).</summary>
    internal void Abort()
    {
        lock (_gate)
        {
            _ready = false;
            _accepting = false;
            _channel.Writer.TryComplete();
        }

        try
        {
            _hardStop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // already disposed: nothing left to cancel
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // The container disposes this instance once per registration (singleton and hosted service).
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_worker is { IsCompleted: false })
        {
            await StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        }

        if (_ownsScorer)
        {
            _scorer?.Dispose();
        }

        _hardStop.Dispose();
    }

    private async Task RunAsync(CancellationToken hardStop)
    {
        try
        {
            _scorer = await _scorerFactory(hardStop).ConfigureAwait(false);
            LogModelLoaded(_logger, _scorer.Model.Describe());
            lock (_gate)
            {
                _ready = _accepting;
            }
        }
        catch (Exception ex)
        {
            LoadError = ex;
            LogModelLoadFailed(_logger, ex);
            // Stopping before the server has finished starting would surface as a cancelled start, hiding the cause.
            _lifetime?.ApplicationStarted.Register(_lifetime.StopApplication);
            return;
        }

        var reader = _channel.Reader;
        var batch = new List<WorkItem>(_options.MaxBatchSize);
        Task? running = null;
        try
        {
            while (await reader.WaitToReadAsync(hardStop).ConfigureAwait(false))
            {
                // While a batch is being scored, the next one starts as soon as a full batch is waiting (not sooner, so
                // batches stay as full as before): its images are decoded and resized while the current batch runs the
                // model (the scorer serialises forwards itself). Otherwise wait for the batch or for more items.
                var arrived = Volatile.Read(ref _arrived).Task;
                if (running is { IsCompleted: false } && (!_options.PrepareAhead || Volatile.Read(ref _inChannel) < _options.MaxBatchSize))
                {
                    await Task.WhenAny(running, arrived).ConfigureAwait(false);
                    continue;
                }

                await FillBatchAsync(reader, batch, hardStop).ConfigureAwait(false);
                if (batch.Count > 0)
                {
                    var next = ScoreBatchAsync(batch, hardStop);
                    batch = new List<WorkItem>(_options.MaxBatchSize);
                    if (running is not null)
                    {
                        await running.ConfigureAwait(false); // at most two batches in flight
                    }

                    running = next;
                }
            }

            if (running is not null)
            {
                await running.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (hardStop.IsCancellationRequested)
        {
            foreach (var item in batch)
            {
                item.Completion.TrySetCanceled(hardStop);
            }

            while (reader.TryRead(out var left))
            {
                Interlocked.Decrement(ref _pending);
                Interlocked.Decrement(ref _inChannel);
                left.Completion.TrySetCanceled(hardStop);
            }
        }
    }

    private async Task FillBatchAsync(ChannelReader<WorkItem> reader, List<WorkItem> batch, CancellationToken hardStop)
    {
        long deadline = 0;
        while (batch.Count < _options.MaxBatchSize)
        {
            if (reader.TryRead(out var item))
            {
                Interlocked.Decrement(ref _pending);
                Interlocked.Decrement(ref _inChannel);
                if (item.Aborted.IsCancellationRequested)
                {
                    // The client is gone: nobody will read this result, so do not spend the model on it.
                    item.Completion.TrySetCanceled(item.Aborted);
                    _metrics.RecordItems("dropped", 1);
                    continue;
                }

                if (batch.Count == 0)
                {
                    deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxWaitMs * (Stopwatch.Frequency / 1000.0));
                }

                batch.Add(item);
                continue;
            }

            if (batch.Count == 0)
            {
                return;
            }

            long remaining = deadline - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return;
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(hardStop);
            cts.CancelAfter(TimeSpan.FromSeconds(remaining / (double)Stopwatch.Frequency));
            var wait = reader.WaitToReadAsync(cts.Token).AsTask();
            await ((Task)wait).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            hardStop.ThrowIfCancellationRequested();
            if (wait.IsCanceled || !wait.Result)
            {
                return; // the window closed, or the queue was completed for shutdown
            }
        }
    }

    private async Task ScoreBatchAsync(List<WorkItem> batch, CancellationToken hardStop)
    {
        long start = Stopwatch.GetTimestamp();
        foreach (var item in batch)
        {
            _metrics.RecordQueueWait(Stopwatch.GetElapsedTime(item.EnqueuedAt, start).TotalSeconds);
        }

        var requests = batch.Select(b => b.Request).ToArray();
        IReadOnlyList<ScoreResult> results;
        try
        {
            results = await _scorer!.ScoreAsync(requests, null, hardStop).ConfigureAwait(false);
            if (results.Count != requests.Length)
            {
                throw new InvalidOperationException($"the scorer returned {results.Count} results for {requests.Length} requests");
            }
        }
        catch (Exception ex) when (BatchFaults.IsBatchFault(ex))
        {
            // The host's circumstances (memory, the device, the disk): each item is reported failed, the service goes on.
            LogBatchFailed(_logger, batch.Count, ex);
            results = requests.Select(r => ScoreResult.Failure(r, "scoring failed: " + ex.Message)).ToArray();
        }
        catch (OperationCanceledException) when (hardStop.IsCancellationRequested)
        {
            // Hard stop: this batch's callers get a cancellation (503), whichever batch was in flight.
            foreach (var item in batch)
            {
                item.Completion.TrySetCanceled(hardStop);
            }

            throw;
        }
        catch (Exception ex)
        {
            // A bug, not bad data: the batch's requests fail as the server's error (500), never as per-item errors a
            // client would take for its images' fault; the service goes on with the next batch.
            LogBatchCrashed(_logger, batch.Count, ex);
            foreach (var item in batch)
            {
                item.Completion.TrySetException(ex);
            }

            _metrics.RecordItems("error", batch.Count);
            return;
        }

        _metrics.RecordBatch(batch.Count, Stopwatch.GetElapsedTime(start).TotalSeconds);
        int ok = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            if (results[i].Ok)
            {
                ok++;
            }

            batch[i].Completion.TrySetResult(results[i]);
        }

        _metrics.RecordItems("ok", ok);
        _metrics.RecordItems("error", batch.Count - ok);
    }

    [LoggerMessage(1, LogLevel.Information, "Model loaded: {Model}")]
    private static partial void LogModelLoaded(ILogger logger, string model);

    [LoggerMessage(2, LogLevel.Critical, "The model could not be loaded; the service stops")]
    private static partial void LogModelLoadFailed(ILogger logger, Exception ex);

    [LoggerMessage(3, LogLevel.Error, "A batch of {Count} items failed")]
    private static partial void LogBatchFailed(ILogger logger, int count, Exception ex);

    [LoggerMessage(4, LogLevel.Critical, "A batch of {Count} items failed with an unexpected error; its requests get a 500")]
    private static partial void LogBatchCrashed(ILogger logger, int count, Exception ex);

    private sealed class WorkItem(ScoreRequest request, CancellationToken aborted, long enqueuedAt)
    {
        public ScoreRequest Request { get; } = request;

        public CancellationToken Aborted { get; } = aborted;

        public long EnqueuedAt { get; } = enqueuedAt;

        public TaskCompletionSource<ScoreResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
