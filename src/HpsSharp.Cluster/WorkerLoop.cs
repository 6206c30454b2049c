using HpsSharp.Cluster.Grains;
using HpsSharp.Core.Scoring;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HpsSharp.Cluster;

/// <summary>
/// The worker's pull loop: ask the active jobs for a lease, score it with the local scorer, report the results,
/// repeat. Pulling means a fast worker simply comes back sooner and takes more. While a batch runs its lease is
/// renewed; on shutdown (SIGTERM) the loop stops leasing, lets the current batch finish within the drain timeout,
/// and otherwise hands its items back uncounted. Registered after the silo, so it stops before the silo does.
/// </summary>
public sealed partial class WorkerLoop(IGrainFactory grains, IScorer scorer, WorkerOptions options, ILogger<WorkerLoop> logger) : BackgroundService
{
    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);
    private long _itemsDone;
    private volatile bool _busy;

    /// <summary>Who this worker is.</summary>
    public WorkerIdentity Identity { get; } = new(options.Name, scorer.Model.Fingerprint, scorer.Model.Name, scorer.Model.Dtype,
        scorer.Model.IsReleasedHpsv3, scorer.Model.Scorer, scorer.Model.Device, scorer.Model.MinPixels, scorer.Model.MaxPixels);

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var registry = grains.GetGrain<IClusterRegistryGrain>(0);
        using var heartbeatStop = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(registry, heartbeatStop.Token);
        LogReady(logger, options.Name, scorer.Model.Describe(), scorer.Model.Fingerprint);
        // Short: an idle worker's poll is the latency a small job (a request to 'hps serve --cluster') waits before
        // it is picked up; asking the registry for its active jobs is an in-memory call, cheap at 20 per second.
        var poll = options.PollInterval ?? TimeSpan.FromMilliseconds(50);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                bool worked = false;
                try
                {
                    foreach (var job in await registry.ActiveJobsAsync().ConfigureAwait(false))
                    {
                        if (stoppingToken.IsCancellationRequested || _refused.Contains(job))
                        {
                            continue;
                        }

                        var grain = grains.GetGrain<IJobGrain>(job);
                        var grant = await grain.LeaseAsync(Identity, options.LeaseSize).ConfigureAwait(false);
                        if (grant.Refusal is not null)
                        {
                            _refused.Add(job);
                            LogRefused(logger, grant.Refusal);
                            continue;
                        }

                        if (grant.Items.Count == 0)
                        {
                            continue;
                        }

                        await ProcessAsync(job, grain, grant, stoppingToken).ConfigureAwait(false);
                        worked = true;
                        break;
                    }
                }
                catch (Exception ex) when (ex is not ScorerFailedException && (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested))
                {
                    // The cluster is reconfiguring (a silo died, a grain is moving): back off and ask again.
                    LogRetry(logger, ex.GetType().Name, ex.Message);
                    worked = false;
                }

                if (!worked)
                {
                    try
                    {
                        await Task.Delay(poll, stoppingToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            try
            {
                await registry.LeaveAsync(options.Name).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogRetry(logger, ex.GetType().Name, ex.Message);
            }

            LogStopped(logger, options.Name, Interlocked.Read(ref _itemsDone));
        }
    }

    private async Task ProcessAsync(string job, IJobGrain grain, LeaseGrant grant, CancellationToken stoppingToken)
    {
        _busy = true;
        var indices = grant.Items.Select(i => i.Index).ToList();
        using var scoring = new CancellationTokenSource();
        using var drain = stoppingToken.Register(() => scoring.CancelAfter(options.DrainTimeout ?? TimeSpan.FromSeconds(120)));
        using var renewStop = new CancellationTokenSource();
        var renew = RenewAsync(grain, grant.LeaseId, renewStop.Token);
        try
        {
            var requests = grant.Items
                .Select(i => new ScoreRequest(i.Prompt, i.Bytes is null ? ImageInput.FromPath(i.Image) : ImageInput.FromBytes(i.Bytes, i.Image)))
                .ToList();
            IReadOnlyList<ScoreResult> results;
            try
            {
                results = await scorer.ScoreAsync(requests, null, scoring.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (scoring.IsCancellationRequested)
            {
                await grain.ReturnAsync(options.Name, grant.LeaseId, indices, countAttempt: false, "worker drained").ConfigureAwait(false);
                LogReturned(logger, job, indices.Count);
                return;
            }
            catch (Exception ex) when (BatchFaults.IsBatchFault(ex))
            {
                // The whole batch failed (not one bad item; the scorer reports those per item) for a reason this
                // worker's resources explain: give it back counting the attempt, so it is retried elsewhere and
                // becomes an error line once it has failed MaxAttempts times.
                LogBatchFailed(logger, job, indices.Count, ex.Message);
                await grain.ReturnAsync(options.Name, grant.LeaseId, indices, countAttempt: true, $"{ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Anything else is a bug in this worker, not bad data: the items go back uncounted (another worker,
                // or this one fixed, scores them; no error line blames them) and the worker stops, loudly.
                LogWorkerFailed(logger, ex, job, indices.Count);
                await grain.ReturnAsync(options.Name, grant.LeaseId, indices, countAttempt: false, $"worker '{options.Name}' failed").ConfigureAwait(false);
                throw new ScorerFailedException($"worker '{options.Name}' stopped: scoring a batch of job '{job}' failed with {ex.GetType().Name}: {ex.Message}", ex);
            }

            var outcomes = new List<ItemOutcome>(results.Count);
            for (int i = 0; i < results.Count; i++)
            {
                var r = results[i];
                outcomes.Add(r.Score is { } s
                    ? new ItemOutcome(grant.Items[i].Index, s.Mu, s.LogSigma, null)
                    : new ItemOutcome(grant.Items[i].Index, null, null, r.Error ?? "could not be scored"));
            }

            await grain.CompleteAsync(options.Name, grant.LeaseId, outcomes).ConfigureAwait(false);
            Interlocked.Add(ref _itemsDone, outcomes.Count);
            LogScored(logger, job, outcomes.Count);
        }
        finally
        {
            await renewStop.CancelAsync().ConfigureAwait(false);
            await renew.ConfigureAwait(false);
            _busy = false;
        }
    }

    private async Task RenewAsync(IJobGrain grain, string leaseId, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                await grain.RenewAsync(options.Name, leaseId).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex)
            {
                LogRetry(logger, ex.GetType().Name, ex.Message);
            }
        }
    }

    private async Task HeartbeatAsync(IClusterRegistryGrain registry, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await registry.HeartbeatAsync(new WorkerStatus(Identity, Interlocked.Read(ref _itemsDone), _busy, DateTime.UtcNow)).ConfigureAwait(false);
                await Task.Delay(WorkerOptions.HeartbeatInterval, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex)
            {
                LogRetry(logger, ex.GetType().Name, ex.Message);
                try
                {
                    await Task.Delay(WorkerOptions.HeartbeatInterval, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "worker {Name} ready: {Model} (fingerprint {Fingerprint})")]
    private static partial void LogReady(ILogger logger, string name, string model, string fingerprint);

    [LoggerMessage(Level = LogLevel.Error, Message = "refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "job {Job}: scored {Count} item(s)")]
    private static partial void LogScored(ILogger logger, string job, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "job {Job}: batch of {Count} failed: {Reason}")]
    private static partial void LogBatchFailed(ILogger logger, string job, int count, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message = "job {Job}: scoring a batch of {Count} failed with an unexpected error; the items go back uncounted and the worker stops")]
    private static partial void LogWorkerFailed(ILogger logger, Exception exception, string job, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "job {Job}: drained, handed {Count} item(s) back")]
    private static partial void LogReturned(ILogger logger, string job, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cluster call failed ({Type}: {Message}); retrying")]
    private static partial void LogRetry(ILogger logger, string type, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "worker {Name} stopped after {Items} item(s)")]
    private static partial void LogStopped(ILogger logger, string name, long items);
}
