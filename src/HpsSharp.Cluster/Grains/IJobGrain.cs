namespace HpsSharp.Cluster.Grains;

/// <summary>
/// One scoring job (key: the job name). Holds every item's state in grain storage (Redis), so the job survives the
/// death of any worker and of the submitting client. Workers pull leases; the client pages finished items.
/// </summary>
public interface IJobGrain : IGrainWithStringKey
{
    /// <summary>Creates the job, or re-opens it when it exists for the same manifest (checksum); refuses another manifest.</summary>
    Task<OpenResult> OpenAsync(JobHeader header);

    /// <summary>Adds the items starting at <c>items[0].Index</c>; items already held are ignored (a resumed submission).</summary>
    Task<JobProgress> AppendAsync(IReadOnlyList<JobItem> items, bool last);

    /// <summary>Up to <paramref name="max"/> pending items for <paramref name="worker"/>, or a refusal when its model differs.</summary>
    Task<LeaseGrant> LeaseAsync(WorkerIdentity worker, int max);

    /// <summary>Extends the lease while the worker is still scoring it.</summary>
    Task RenewAsync(string worker, string leaseId);

    /// <summary>Records results; an item that is already finished keeps its first result (exactly once).</summary>
    Task CompleteAsync(string worker, string leaseId, IReadOnlyList<ItemOutcome> outcomes);

    /// <summary>
    /// Gives items back unscored: after a crash of the batch (<paramref name="countAttempt"/> true; the reason is kept
    /// for the error line if the item runs out of attempts) or when the worker drains on shutdown (false).
    /// </summary>
    Task ReturnAsync(string worker, string leaseId, IReadOnlyList<int> indices, bool countAttempt, string reason);

    /// <summary>Finished items with <c>Seq</c> greater than <paramref name="afterSeq"/>, oldest first, at most <paramref name="max"/>.</summary>
    Task<FinishedPage> FinishedAsync(long afterSeq, int max);

    /// <summary>The job's counts.</summary>
    Task<JobProgress> ProgressAsync();

    /// <summary>
    /// Forgets the job: clears its storage and removes it from the registry. For short-lived jobs whose results the
    /// client has already taken (<see cref="ClusterScorer"/>); a late result for a forgotten job is ignored.
    /// </summary>
    Task DeleteAsync();
}

/// <summary>
/// The cluster's directory (a single grain, key 0): jobs (persisted) and workers (from heartbeats, in memory — they
/// re-announce themselves every few seconds, so a re-activation loses nothing that matters).
/// </summary>
public interface IClusterRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Records a job name so that workers find it and status lists it.</summary>
    Task AddJobAsync(string job);

    /// <summary>Removes a job from the directory (it was deleted).</summary>
    Task RemoveJobAsync(string job);

    /// <summary>Marks a job finished: workers stop asking it for work.</summary>
    Task JobCompleteAsync(string job);

    /// <summary>Jobs that still have work, oldest first.</summary>
    Task<IReadOnlyList<string>> ActiveJobsAsync();

    /// <summary>Every job, oldest first.</summary>
    Task<IReadOnlyList<string>> JobsAsync();

    /// <summary>A worker's heartbeat.</summary>
    Task HeartbeatAsync(WorkerStatus status);

    /// <summary>A worker leaving on purpose (drained shutdown).</summary>
    Task LeaveAsync(string worker);

    /// <summary>Workers heard from within <paramref name="within"/>.</summary>
    Task<IReadOnlyList<WorkerStatus>> WorkersAsync(TimeSpan within);
}
