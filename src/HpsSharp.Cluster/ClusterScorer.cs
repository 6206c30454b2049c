using System.Diagnostics;
using HpsSharp.Cluster.Grains;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cluster;

/// <summary>
/// An <see cref="IScorer"/> whose model runs on the cluster's workers: every <see cref="ScoreAsync"/> call is a
/// short job (the same job grain and leases as <c>hps score --cluster</c>, so the work spreads over the workers and
/// survives a worker's death), whose results are collected in memory and the job then deleted. Used by
/// <c>hps eval --cluster</c> (the evaluation pipeline and its score cache unchanged) and by
/// <c>hps serve --cluster</c> (the reward service as a gateway that loads no model).
/// </summary>
public sealed class ClusterScorer : IScorer
{
    private static readonly TimeSpan MinPoll = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromMilliseconds(200);
    private readonly ClusterConnection _connection;
    private readonly JobRunner _runner;
    private readonly string _jobPrefix;
    private readonly WorkerIdentity _worker;
    private int _disposed;

    private ClusterScorer(ClusterConnection connection, JobRunner runner, WorkerIdentity worker, string jobPrefix)
    {
        _connection = connection;
        _runner = runner;
        _worker = worker;
        _jobPrefix = jobPrefix;

        // The name says where the scores come from; the fingerprint (the cache key) is the workers' own, so scores
        // cached by a local run of the same model are reused and vice versa.
        Model = new ModelInfo($"{worker.ModelName} on cluster {connection.Address} (fingerprint {worker.Fingerprint})", worker.Fingerprint,
            worker.IsReleasedHpsv3, worker.Dtype, worker.MinPixels, worker.MaxPixels)
        {
            Scorer = worker.Scorer,
            Device = worker.Device,
        };
    }

    /// <inheritdoc/>
    public ModelInfo Model { get; }

    /// <summary>Lost leases or crashed batches an item may have before it is an error.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>How long a silent worker keeps its items before they are re-issued to another.</summary>
    public int LeaseSeconds { get; init; } = 30;

    /// <summary>
    /// Connects to the cluster and picks the model: <paramref name="fingerprint"/>, or the one every live worker runs
    /// (a cluster whose workers run different models is refused with the list).
    /// </summary>
    /// <param name="address">The cluster.</param>
    /// <param name="fingerprint">The model the workers must run; null: the one the live workers run.</param>
    /// <param name="jobPrefix">Start of the job names (they show in <c>hps cluster status</c> while they run).</param>
    /// <param name="log">Where retry notes go (a worker died, the cluster reconfigures).</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    public static async Task<ClusterScorer> ConnectAsync(ClusterAddress address, string? fingerprint = null, string jobPrefix = "scorer",
        Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        var connection = await ClusterConnection.ConnectAsync(address, cancellationToken).ConfigureAwait(false);
        try
        {
            var runner = new JobRunner(connection.Grains, log);
            var worker = await runner.ChooseModelAsync(fingerprint, cancellationToken).ConfigureAwait(false);
            return new ClusterScorer(connection, runner, worker, jobPrefix);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var results = new ScoreResult?[requests.Count];
        if (requests.Count == 0)
        {
            return [];
        }

        var items = new List<JobItem>(requests.Count);
        for (int i = 0; i < requests.Count; i++)
        {
            items.Add(Item(i, requests[i]));
        }

        var jobName = $"{_jobPrefix}-{Guid.NewGuid():N}";
        var grain = _connection.Grains.GetGrain<IJobGrain>(jobName);
        var header = new JobHeader(JobRunner.Checksum(requests), requests.Count, _worker.Fingerprint, _worker.ModelName, _worker.Dtype, MaxAttempts, LeaseSeconds);
        try
        {
            var opened = await _runner.RetryAsync(() => grain.OpenAsync(header), cancellationToken).ConfigureAwait(false);
            if (opened.Error is not null)
            {
                throw new InvalidOperationException(opened.Error); // a fresh GUID name cannot collide; a broken cluster
            }

            // Big inputs go in chunks so that no single message carries hundreds of uploaded images.
            const int Chunk = 32;
            for (int start = 0; start < items.Count; start += Chunk)
            {
                var chunk = items.GetRange(start, Math.Min(Chunk, items.Count - start));
                bool last = start + chunk.Count >= items.Count;
                await _runner.RetryAsync(() => grain.AppendAsync(chunk, last), cancellationToken).ConfigureAwait(false);
            }

            long cursor = 0;
            int finished = 0;
            var poll = MinPoll;
            var refusals = new HashSet<string>(StringComparer.Ordinal);
            var idleSince = Stopwatch.StartNew();
            while (finished < requests.Count)
            {
                var page = await _runner.RetryAsync(() => grain.FinishedAsync(cursor, 1000), cancellationToken).ConfigureAwait(false);
                var fresh = new List<ScoreResult>(page.Items.Count);
                foreach (var item in page.Items)
                {
                    cursor = item.Seq;
                    if (item.Index < 0 || item.Index >= results.Length || results[item.Index] is not null)
                    {
                        continue;
                    }

                    var request = requests[item.Index];
                    var r = item.Error is null && item.Mu is { } mu && item.LogSigma is { } ls
                        ? new ScoreResult(request, new Score(mu, ls), null)
                        : ScoreResult.Failure(request, item.Error ?? "no score came back");
                    results[item.Index] = r;
                    fresh.Add(r);
                    finished++;
                }

                foreach (var r in page.Progress.Refusals)
                {
                    refusals.Add(r);
                }

                if (fresh.Count > 0)
                {
                    progress?.Report(new ScoreProgress(finished, requests.Count) { Finished = fresh });
                    poll = MinPoll;
                    idleSince.Restart();
                    continue;
                }

                if (page.Progress.Complete && finished >= requests.Count)
                {
                    break;
                }

                // No worker of this model is left (all refused or gone) and nothing moved for a while: say so
                // instead of waiting for ever; the job's own lease expiry turns lost items into errors.
                if (refusals.Count > 0 && page.Progress.Leased == 0 && idleSince.Elapsed > TimeSpan.FromSeconds(LeaseSeconds))
                {
                    throw new ClusterUnavailableException(_connection.Address, string.Join("; ", refusals));
                }

                // Poll fast right after submitting (a small job is done in tens of milliseconds), then back off.
                await Task.Delay(poll, cancellationToken).ConfigureAwait(false);
                poll = TimeSpan.FromTicks(Math.Min(MaxPoll.Ticks, poll.Ticks * 3 / 2));
            }
        }
        finally
        {
            // The results are in memory now (or the caller gave up): the job's state is of no further use.
            try
            {
                await grain.DeleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or OrleansException or InvalidOperationException)
            {
                // A job left behind is listed by 'hps cluster status' but costs nothing; not worth failing a result.
            }
        }

        return results.Select((r, i) => r ?? ScoreResult.Failure(requests[i], "no score came back")).ToArray();
    }

    /// <summary>
    /// The item as sent: bytes travel with it (the gateway's request bodies, eval's image files read once for the
    /// cache key); a path is read by the workers (shared filesystem); raw RGB has no encoding the workers accept.
    /// </summary>
    private static JobItem Item(int index, ScoreRequest request)
    {
        var image = request.Image;
        if (image.Bytes is { } bytes)
        {
            return new JobItem(index, request.Prompt, image.Name, bytes.ToArray(), null);
        }

        if (image.Path is { } path)
        {
            return new JobItem(index, request.Prompt, Path.GetFullPath(path), null, null);
        }

        return new JobItem(index, request.Prompt, image.Name, null, "raw RGB pixels cannot be sent to the cluster; send the encoded image");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // IScorer is IDisposable; leaving the cluster is asynchronous, and no synchronization context is in play
            // in the CLI or ASP.NET Core, so blocking here cannot deadlock.
            _connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
