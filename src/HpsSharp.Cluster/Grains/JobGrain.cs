using Microsoft.Extensions.Logging;

namespace HpsSharp.Cluster.Grains;

/// <summary>
/// The job: a lease table over the items. Orleans runs one call at a time per grain, so leasing, completing and
/// expiring never race; every change is written to grain storage before the call returns, so a re-activation on
/// another silo (after the silo that hosted it died) continues from the last acknowledged change.
/// </summary>
public sealed partial class JobGrain(
    [PersistentState("job", ClusterNames.Storage)] IPersistentState<JobState> state,
    ILogger<JobGrain> logger) : Grain, IJobGrain
{
    private JobState S => state.State;

    private string Name => this.GetPrimaryKeyString();

    /// <inheritdoc/>
    public async Task<OpenResult> OpenAsync(JobHeader header)
    {
        ArgumentNullException.ThrowIfNull(header);
        if (S.Header is { } existing)
        {
            if (existing.Checksum != header.Checksum || existing.Total != header.Total)
            {
                return new OpenResult(null, $"job '{Name}' already exists for another manifest ({existing.Total} items, checksum {existing.Checksum[..12]}); choose another name");
            }

            if (existing.Fingerprint != header.Fingerprint)
            {
                return new OpenResult(null, $"job '{Name}' was submitted for model {existing.Fingerprint} ({existing.ModelName}, {existing.Dtype}), not {header.Fingerprint}; choose another name");
            }

            return new OpenResult(Progress(), null);
        }

        S.Header = header;
        await state.WriteStateAsync().ConfigureAwait(true);
        await GrainFactory.GetGrain<IClusterRegistryGrain>(0).AddJobAsync(Name).ConfigureAwait(true);
        LogOpened(logger, Name, header.Total, header.Fingerprint);
        return new OpenResult(Progress(), null);
    }

    /// <inheritdoc/>
    public async Task<JobProgress> AppendAsync(IReadOnlyList<JobItem> items, bool last)
    {
        ArgumentNullException.ThrowIfNull(items);
        var header = S.Header ?? throw new InvalidOperationException($"job '{Name}' is not open");
        bool changed = false;
        foreach (var item in items)
        {
            if (item.Index != S.Items.Count)
            {
                continue; // already held (a resumed submission sends from the start of a chunk)
            }

            var st = new JobItemState { Index = item.Index, Prompt = item.Prompt, Image = item.Image, Bytes = item.Bytes };
            S.Items.Add(st);
            if (item.Error is not null)
            {
                Finish(st, null, null, null, item.Error);
            }

            changed = true;
        }

        if (last && S.Items.Count == header.Total && !S.Sealed)
        {
            S.Sealed = true;
            changed = true;
        }

        if (changed)
        {
            await state.WriteStateAsync().ConfigureAwait(true);
        }

        await AnnounceIfCompleteAsync().ConfigureAwait(true);
        return Progress();
    }

    /// <inheritdoc/>
    public async Task<LeaseGrant> LeaseAsync(WorkerIdentity worker, int max)
    {
        ArgumentNullException.ThrowIfNull(worker);
        if (S.Header is not { } header)
        {
            return new LeaseGrant(string.Empty, [], null, true);
        }

        if (worker.Fingerprint != header.Fingerprint)
        {
            var reason = $"worker '{worker.Name}' refused for job '{Name}': it runs model {worker.Fingerprint} ({worker.ModelName}, {worker.Dtype}) but the job requires {header.Fingerprint} ({header.ModelName}, {header.Dtype})";
            if (!S.Refusals.Contains(reason))
            {
                S.Refusals.Add(reason);
                await state.WriteStateAsync().ConfigureAwait(true);
            }

            return new LeaseGrant(string.Empty, [], reason, false);
        }

        var now = DateTime.UtcNow;
        bool changed = ExpireLeases(now);
        var leaseId = Guid.NewGuid().ToString("N");
        var items = new List<JobItem>();
        foreach (var st in S.Items)
        {
            if (items.Count >= max)
            {
                break;
            }

            if (st.Status != ItemStatus.Pending)
            {
                continue;
            }

            st.Status = ItemStatus.Leased;
            st.LeaseId = leaseId;
            st.Worker = worker.Name;
            st.LeaseExpiryUtc = now.AddSeconds(header.LeaseSeconds);
            st.Attempts++;
            items.Add(new JobItem(st.Index, st.Prompt, st.Image, st.Bytes, null));
        }

        if (changed || items.Count > 0)
        {
            await state.WriteStateAsync().ConfigureAwait(true);
        }

        await AnnounceIfCompleteAsync().ConfigureAwait(true);
        return new LeaseGrant(leaseId, items, null, Progress().Complete);
    }

    /// <inheritdoc/>
    public Task RenewAsync(string worker, string leaseId)
    {
        // Not persisted: after a re-activation an un-renewed lease only means earlier re-issue, never a lost item.
        var expiry = DateTime.UtcNow.AddSeconds(S.Header?.LeaseSeconds ?? 0);
        foreach (var st in S.Items)
        {
            if (st.Status == ItemStatus.Leased && st.LeaseId == leaseId && st.Worker == worker)
            {
                st.LeaseExpiryUtc = expiry;
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task CompleteAsync(string worker, string leaseId, IReadOnlyList<ItemOutcome> outcomes)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        bool changed = false;
        foreach (var o in outcomes)
        {
            if (o.Index < 0 || o.Index >= S.Items.Count)
            {
                continue;
            }

            var st = S.Items[o.Index];
            if (st.Status is ItemStatus.Done or ItemStatus.Failed)
            {
                continue; // a re-issued item came back twice: the first result stands
            }

            Finish(st, o.Mu, o.LogSigma, worker, o.Error);
            changed = true;
        }

        if (changed)
        {
            await state.WriteStateAsync().ConfigureAwait(true);
        }

        await AnnounceIfCompleteAsync().ConfigureAwait(true);
    }

    /// <inheritdoc/>
    public async Task ReturnAsync(string worker, string leaseId, IReadOnlyList<int> indices, bool countAttempt, string reason)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int max = S.Header?.MaxAttempts ?? 1;
        bool changed = false;
        foreach (var i in indices)
        {
            if (i < 0 || i >= S.Items.Count)
            {
                continue;
            }

            var st = S.Items[i];
            if (st.Status != ItemStatus.Leased || st.LeaseId != leaseId)
            {
                continue;
            }

            changed = true;
            if (!countAttempt)
            {
                st.Attempts = Math.Max(0, st.Attempts - 1);
                st.Status = ItemStatus.Pending;
                st.LeaseId = null;
                continue;
            }

            st.LastProblem = $"{reason} (worker '{worker}')";
            if (st.Attempts >= max)
            {
                Finish(st, null, null, worker, $"failed {st.Attempts} time(s); last: {st.LastProblem}");
            }
            else
            {
                st.Status = ItemStatus.Pending;
                st.LeaseId = null;
            }
        }

        if (changed)
        {
            await state.WriteStateAsync().ConfigureAwait(true);
        }

        await AnnounceIfCompleteAsync().ConfigureAwait(true);
    }

    /// <inheritdoc/>
    public async Task<FinishedPage> FinishedAsync(long afterSeq, int max)
    {
        // Expiry also runs here so that a job whose workers all died still turns its lost items into error lines
        // once their attempts are used up, even with no live worker asking for leases.
        if (ExpireLeases(DateTime.UtcNow))
        {
            await state.WriteStateAsync().ConfigureAwait(true);
            await AnnounceIfCompleteAsync().ConfigureAwait(true);
        }

        var page = new List<FinishedItem>();
        for (long seq = Math.Max(0, afterSeq); seq < S.FinishedOrder.Count && page.Count < max; seq++)
        {
            var st = S.Items[S.FinishedOrder[(int)seq]];
            page.Add(new FinishedItem(seq + 1, st.Index, st.Prompt, st.Image, st.Mu, st.LogSigma, st.Worker, st.Error));
        }

        return new FinishedPage(page, Progress());
    }

    /// <inheritdoc/>
    public Task<JobProgress> ProgressAsync() => Task.FromResult(Progress());

    /// <inheritdoc/>
    public async Task DeleteAsync()
    {
        await state.ClearStateAsync().ConfigureAwait(true);
        await GrainFactory.GetGrain<IClusterRegistryGrain>(0).RemoveJobAsync(Name).ConfigureAwait(true);
        DeactivateOnIdle();
    }

    private bool ExpireLeases(DateTime now)
    {
        int max = S.Header?.MaxAttempts ?? 1;
        bool changed = false;
        foreach (var st in S.Items)
        {
            if (st.Status != ItemStatus.Leased || st.LeaseExpiryUtc > now)
            {
                continue;
            }

            changed = true;
            st.LastProblem = $"lease expired on worker '{st.Worker}' (worker died or stalled)";
            LogExpired(logger, Name, st.Index, st.Worker ?? "?", st.Attempts);
            if (st.Attempts >= max)
            {
                Finish(st, null, null, st.Worker, $"failed {st.Attempts} time(s); last: {st.LastProblem}");
            }
            else
            {
                st.Status = ItemStatus.Pending;
                st.LeaseId = null;
            }
        }

        return changed;
    }

    private void Finish(JobItemState st, double? mu, double? logSigma, string? worker, string? error)
    {
        st.Status = error is null ? ItemStatus.Done : ItemStatus.Failed;
        st.Mu = mu;
        st.LogSigma = logSigma;
        st.Error = error;
        st.Worker = worker;
        st.LeaseId = null;
        st.Bytes = null;
        S.FinishedOrder.Add(st.Index);
        st.Seq = S.FinishedOrder.Count;
    }

    private async Task AnnounceIfCompleteAsync()
    {
        if (Progress().Complete)
        {
            await GrainFactory.GetGrain<IClusterRegistryGrain>(0).JobCompleteAsync(Name).ConfigureAwait(true);
        }
    }

    private JobProgress Progress()
    {
        int done = 0, failed = 0, leased = 0;
        foreach (var st in S.Items)
        {
            switch (st.Status)
            {
                case ItemStatus.Done: done++; break;
                case ItemStatus.Failed: failed++; break;
                case ItemStatus.Leased: leased++; break;
                default: break;
            }
        }

        var h = S.Header;
        return new JobProgress(Name, h?.Total ?? 0, S.Items.Count, S.Sealed, done, failed, leased, h?.Fingerprint ?? string.Empty, [.. S.Refusals]);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "job {Job} opened: {Total} items, model {Fingerprint}")]
    private static partial void LogOpened(ILogger logger, string job, int total, string fingerprint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "job {Job}: item {Index} lease expired on worker {Worker} (attempt {Attempts})")]
    private static partial void LogExpired(ILogger logger, string job, int index, string worker, int attempts);
}
