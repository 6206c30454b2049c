using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HpsSharp.Cluster.Grains;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cluster;

/// <summary>What to submit.</summary>
/// <param name="Job">The job's name; the same name continues the same job. Null: named after the manifest's checksum and the model, so rerunning the same command continues too.</param>
/// <param name="Requests">The items, in manifest order (index = position).</param>
/// <param name="OutPath">The JSONL output.</param>
/// <param name="Upload">Send the image bytes with the items instead of letting the workers read the paths.</param>
/// <param name="Fingerprint">The model the workers must run; null: the one every live worker runs.</param>
/// <param name="MaxAttempts">Lost leases an item may have before it becomes an error line.</param>
/// <param name="LeaseSeconds">How long a silent worker keeps its items.</param>
public sealed record JobSubmission(
    string? Job,
    IReadOnlyList<ScoreRequest> Requests,
    string OutPath,
    bool Upload = false,
    string? Fingerprint = null,
    int MaxAttempts = 3,
    int LeaseSeconds = 30);

/// <summary>How a job ended: counts, and how many lines this run wrote (the rest were already in the file).</summary>
public sealed record JobSummary(string Job, int Total, int Done, int Failed, int WrittenNow, IReadOnlyDictionary<string, int> ItemsPerWorker);

/// <summary>
/// Submits a job (or re-opens it under the same name), then pages finished items into the output file until every
/// item is in it. The job lives in the cluster: this process can die and a rerun with the same job name only
/// collects what is missing. Calls that fail while the cluster reconfigures (a worker died) are retried.
/// </summary>
/// <param name="grains">The cluster.</param>
/// <param name="log">Progress and notices, one line each.</param>
/// <param name="optionNames">How notices name option fields (a front end's <see cref="OptionNameFormat"/>); default: the field names.</param>
public sealed class JobRunner(IGrainFactory grains, Action<string>? log = null, IFormatProvider? optionNames = null)
{
    private const int PageSize = 1000;

    /// <summary>How long the runner keeps retrying without any successful call before it gives up.</summary>
    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>Runs the job to completion.</summary>
    public async Task<JobSummary> RunAsync(JobSubmission submission, IProgress<JobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(submission);
        if (submission.Requests.Count == 0)
        {
            throw UserInputException.ForOption(nameof(JobSubmission.Requests), $"the manifest has no items");
        }

        var chosen = await ChooseModelAsync(submission.Fingerprint, cancellationToken).ConfigureAwait(false);
        var (fingerprint, modelName, dtype) = (chosen.Fingerprint, chosen.ModelName, chosen.Dtype);
        var checksum = Checksum(submission.Requests);
        var header = new JobHeader(checksum, submission.Requests.Count, fingerprint, modelName, dtype, submission.MaxAttempts, submission.LeaseSeconds);
        var jobName = submission.Job ?? $"job-{checksum[..10]}-{fingerprint[..Math.Min(8, fingerprint.Length)]}";
        using var output = ResultsFile.Open(submission.OutPath, submission.Requests.Count);
        var grain = grains.GetGrain<IJobGrain>(jobName);
        var opened = await RetryAsync(() => grain.OpenAsync(header), cancellationToken).ConfigureAwait(false);
        if (opened.Error is not null)
        {
            throw UserInputException.ForOption(nameof(JobSubmission.Job), $"{opened.Error}");
        }

        var state = opened.Progress!;
        if (state.Received > 0)
        {
            log?.Invoke($"job '{jobName}' continues: {state.Done + state.Failed}/{state.Total} finished in the cluster, {output.Written.Count} already in {submission.OutPath}");
        }

        else
        {
            log?.Invoke(string.Create(optionNames ?? CultureInfo.InvariantCulture, $"job '{jobName}': {header.Total} items for model {fingerprint} ({modelName}, {dtype}); rerun with {new OptionField(nameof(JobSubmission.Job))} {jobName} to continue it"));
        }

        state = await SubmitAsync(grain, submission, state, cancellationToken).ConfigureAwait(false);
        var perWorker = new Dictionary<string, int>(StringComparer.Ordinal);
        var refusals = new HashSet<string>(StringComparer.Ordinal);
        int writtenNow = 0;
        long cursor = 0;
        while (true)
        {
            var page = await RetryAsync(() => grain.FinishedAsync(cursor, PageSize), cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items)
            {
                cursor = item.Seq;
                if (output.Append(item))
                {
                    writtenNow++;
                    if (item.Worker is not null && item.Error is null)
                    {
                        perWorker[item.Worker] = perWorker.GetValueOrDefault(item.Worker) + 1;
                    }
                }
            }

            foreach (var r in page.Progress.Refusals)
            {
                if (refusals.Add(r))
                {
                    log?.Invoke(r);
                }
            }

            progress?.Report(page.Progress);
            if (page.Progress.Complete && page.Items.Count < PageSize && output.Written.Count >= page.Progress.Total)
            {
                output.SortByIndex();
                return new JobSummary(jobName, page.Progress.Total, page.Progress.Done, page.Progress.Failed, writtenNow, perWorker);
            }

            if (page.Items.Count < PageSize)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>SHA-256 over every item's prompt and image name: a job name stays bound to one manifest.</summary>
    public static string Checksum(IReadOnlyList<ScoreRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var r in requests)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(r.Prompt));
            hash.AppendData([0]);
            hash.AppendData(Encoding.UTF8.GetBytes(r.Image.Name));
            hash.AppendData([0]);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private async Task<JobProgress> SubmitAsync(IJobGrain grain, JobSubmission submission, JobProgress state, CancellationToken ct)
    {
        int chunk = submission.Upload ? 32 : 500;
        int total = submission.Requests.Count;
        if (state.Sealed)
        {
            return state;
        }

        for (int start = state.Received; start < total; start += chunk)
        {
            int count = Math.Min(chunk, total - start);
            var items = new List<JobItem>(count);
            for (int i = start; i < start + count; i++)
            {
                items.Add(await ItemAsync(i, submission.Requests[i], submission.Upload, ct).ConfigureAwait(false));
            }

            bool last = start + count >= total;
            state = await RetryAsync(() => grain.AppendAsync(items, last), ct).ConfigureAwait(false);
        }

        if (total == state.Received && !state.Sealed)
        {
            state = await RetryAsync(() => grain.AppendAsync([], true), ct).ConfigureAwait(false);
        }

        return state;
    }

    private static async Task<JobItem> ItemAsync(int index, ScoreRequest request, bool upload, CancellationToken ct)
    {
        var path = request.Image.Path ?? request.Image.Name;
        if (!upload)
        {
            return new JobItem(index, request.Prompt, path, null, null);
        }

        try
        {
            var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
            return new JobItem(index, request.Prompt, path, bytes, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Uploading is reading here: an unreadable image is that item's error line, not the job's end.
            return new JobItem(index, request.Prompt, path, null, $"cannot read image for upload: {ex.Message}");
        }
    }

    /// <summary>The model to run: <paramref name="wanted"/>, or the one every live worker runs (refused when they differ).</summary>
    internal async Task<WorkerIdentity> ChooseModelAsync(string? wanted, CancellationToken ct)
    {
        var registry = grains.GetGrain<IClusterRegistryGrain>(0);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var workers = await RetryAsync(() => registry.WorkersAsync(WorkerOptions.WorkerStaleAfter), ct).ConfigureAwait(false);
            if (wanted is not null)
            {
                var match = workers.FirstOrDefault(w => w.Worker.Fingerprint == wanted);
                if (match is not null || DateTime.UtcNow > deadline)
                {
                    return match?.Worker ?? new WorkerIdentity(string.Empty, wanted, "(no live worker runs it yet)", "?");
                }
            }
            else if (workers.Count > 0)
            {
                var models = workers.GroupBy(w => w.Worker.Fingerprint).ToList();
                if (models.Count > 1)
                {
                    var list = string.Join("; ", models.Select(g => $"{g.Key} ({g.First().Worker.ModelName}, {g.First().Worker.Dtype}) on {string.Join(", ", g.Select(w => w.Worker.Name))}"));
                    throw UserInputException.ForOption(nameof(ClusterAddress), $"the workers run different models: {list}; pass {new OptionField(nameof(JobSubmission.Fingerprint))} to choose one (the others are refused)");
                }

                return models[0].First().Worker;
            }
            else if (DateTime.UtcNow > deadline)
            {
                throw UserInputException.ForOption(nameof(ClusterAddress), $"no worker has registered; start 'hps cluster worker' first");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Runs a cluster call, retrying transient failures (a silo died, a grain moved) for up to <see cref="GiveUpAfter"/>.</summary>
    internal async Task<T> RetryAsync<T>(Func<Task<T>> call, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var delay = TimeSpan.FromMilliseconds(250);
        bool reported = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                var result = await call().ConfigureAwait(false);
                if (reported)
                {
                    log?.Invoke("cluster reachable again");
                }

                return result;
            }
            catch (Exception ex) when (IsTransient(ex) && DateTime.UtcNow - started < GiveUpAfter)
            {
                if (!reported)
                {
                    log?.Invoke($"cluster call failed ({ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}); retrying while the cluster recovers");
                    reported = true;
                }

                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
            }
        }
    }

    /// <summary>Failures of the cluster (timeouts, lost silos, moving grains), not of our input.</summary>
    private static bool IsTransient(Exception ex) => ex is TimeoutException or OrleansException or SiloUnavailableException
        or OrleansMessageRejectionException or System.Net.Sockets.SocketException or IOException
        || (ex is AggregateException { InnerException: { } inner } && IsTransient(inner));
}
