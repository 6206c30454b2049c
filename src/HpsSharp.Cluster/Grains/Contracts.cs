namespace HpsSharp.Cluster.Grains;

/// <summary>One item of a job: its position in the manifest, the prompt, and the image (a path the workers read, or bytes).</summary>
/// <param name="Index">Zero-based position in the manifest; the identity of the item and of its output line.</param>
/// <param name="Prompt">The prompt the image was generated for.</param>
/// <param name="Image">The image as named in the output (the resolved path).</param>
/// <param name="Bytes">The encoded image when the client uploads it (<c>--upload</c>); null when workers read <paramref name="Image"/>.</param>
/// <param name="Error">Set when the client already knows the item cannot be scored (e.g. an unreadable upload): it becomes an error line at once.</param>
[GenerateSerializer, Immutable]
public sealed record JobItem(int Index, string Prompt, string Image, byte[]? Bytes, string? Error);

/// <summary>What a job is: the manifest it came from and the model every worker must run.</summary>
/// <param name="Checksum">SHA-256 of the item list (prompts and image names); a job name is bound to one manifest.</param>
/// <param name="Total">Number of items.</param>
/// <param name="Fingerprint">The <c>ModelInfo.Fingerprint</c> a worker must have to be given items (it includes the dtype).</param>
/// <param name="ModelName">The model's name, for messages.</param>
/// <param name="Dtype">The model's dtype, for messages.</param>
/// <param name="MaxAttempts">Leases an item may lose (worker died, batch crashed) before it becomes an error line.</param>
/// <param name="LeaseSeconds">How long a worker holds items without renewing before they are re-issued.</param>
[GenerateSerializer, Immutable]
public sealed record JobHeader(string Checksum, int Total, string Fingerprint, string ModelName, string Dtype, int MaxAttempts, int LeaseSeconds);

/// <summary>
/// A worker as the cluster knows it. The trailing fields complete the worker's <c>ModelInfo</c>, so that a client
/// scoring through the cluster (<see cref="ClusterScorer"/>) reports the same model as a local scorer would.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record WorkerIdentity(string Name, string Fingerprint, string ModelName, string Dtype,
    bool IsReleasedHpsv3 = false, string Scorer = "hpsv3", string Device = "cpu", int MinPixels = 0, int MaxPixels = 0);

/// <summary>The answer to a lease request.</summary>
/// <param name="LeaseId">Identifies the lease for renewals, results and returns.</param>
/// <param name="Items">The items to score (empty when none are pending right now).</param>
/// <param name="Refusal">Set when the worker may not work on this job (a different model); the reason is a sentence.</param>
/// <param name="Complete">True when every item of the job is finished.</param>
[GenerateSerializer, Immutable]
public sealed record LeaseGrant(string LeaseId, IReadOnlyList<JobItem> Items, string? Refusal, bool Complete);

/// <summary>A worker's result for one item: a score or an error that is final (the scorer rejected the item).</summary>
[GenerateSerializer, Immutable]
public sealed record ItemOutcome(int Index, double? Mu, double? LogSigma, string? Error);

/// <summary>
/// A finished item as the client writes it: exactly one per index. <c>Seq</c> is the order of finishing (1, 2, ...),
/// the cursor a client pages with; either μ and log σ or <c>Error</c> is set.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record FinishedItem(long Seq, int Index, string Prompt, string Image, double? Mu, double? LogSigma, string? Worker, string? Error);

/// <summary>A page of finished items after a cursor, with the job's counts.</summary>
[GenerateSerializer, Immutable]
public sealed record FinishedPage(IReadOnlyList<FinishedItem> Items, JobProgress Progress);

/// <summary>
/// Where a job stands. <c>Received</c>: items the job holds so far (a submission is sent in chunks); <c>Sealed</c>:
/// every item has been submitted; <c>Refusals</c>: one sentence per worker refused because it runs another model.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record JobProgress(string Job, int Total, int Received, bool Sealed, int Done, int Failed, int Leased, string Fingerprint, IReadOnlyList<string> Refusals)
{
    /// <summary>True when every item is scored or failed.</summary>
    public bool Complete => Sealed && Done + Failed >= Total;
}

/// <summary>A worker's heartbeat: who it is, what it has done, whether it is scoring right now.</summary>
[GenerateSerializer, Immutable]
public sealed record WorkerStatus(WorkerIdentity Worker, long ItemsDone, bool Busy, DateTime LastSeenUtc);

/// <summary>The result of opening a job: its progress, or why it cannot be opened under that name.</summary>
[GenerateSerializer, Immutable]
public sealed record OpenResult(JobProgress? Progress, string? Error);
