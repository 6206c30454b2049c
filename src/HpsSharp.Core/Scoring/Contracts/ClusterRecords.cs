namespace HpsSharp.Core.Scoring.Contracts;

/// <summary>One worker in <c>hps cluster status --json</c>.</summary>
/// <param name="Name">The worker's name.</param>
/// <param name="Model">The fingerprint of the model it runs.</param>
/// <param name="ModelName">The model's human-readable name.</param>
/// <param name="Dtype">The model's dtype.</param>
/// <param name="ItemsDone">Items it has scored.</param>
/// <param name="Busy">Whether it is scoring now.</param>
public sealed record ClusterWorkerRecord(string Name, string Model, string ModelName, string Dtype, long ItemsDone, bool Busy);

/// <summary>One job in <c>hps cluster status --json</c>.</summary>
/// <param name="Job">The job's name.</param>
/// <param name="Done">Items finished.</param>
/// <param name="Total">Items submitted.</param>
/// <param name="Failed">Items that failed.</param>
/// <param name="Leased">Items held by a worker now.</param>
/// <param name="Complete">Whether every item is finished.</param>
/// <param name="Model">The fingerprint of the model the job asks for.</param>
public sealed record ClusterJobRecord(string Job, int Done, int Total, int Failed, int Leased, bool Complete, string Model);

/// <summary><c>hps cluster status --json</c>.</summary>
public sealed record ClusterStatusDocument(IReadOnlyList<ClusterWorkerRecord> Workers, IReadOnlyList<ClusterJobRecord> Jobs);

/// <summary>
/// One line of <c>hps score --cluster --out FILE.jsonl</c>: the item's index, prompt and image, then μ, log σ, σ and the
/// worker, or <c>"error"</c>.
/// </summary>
public sealed record ClusterResultLine
{
    /// <summary>The item's position in the manifest.</summary>
    public required int Index { get; init; }

    /// <summary>The prompt.</summary>
    public required string Prompt { get; init; }

    /// <summary>The image as the manifest named it.</summary>
    public required string Image { get; init; }

    /// <summary>μ, when scored.</summary>
    public double? Mu { get; init; }

    /// <summary>log σ, when scored.</summary>
    public double? LogSigma { get; init; }

    /// <summary>σ = exp(log σ), when scored.</summary>
    public double? Sigma { get; init; }

    /// <summary>Why the item was not scored.</summary>
    public string? Error { get; init; }

    /// <summary>The worker that scored (or failed) it.</summary>
    public string? Worker { get; init; }
}

/// <summary><c>hps score --cluster --json</c>: the job's counts when the run ends.</summary>
/// <param name="Job">The job's name.</param>
/// <param name="Total">Items in the job.</param>
/// <param name="Done">Items scored.</param>
/// <param name="Failed">Items that failed.</param>
/// <param name="Out">The results file.</param>
/// <param name="WrittenNow">Lines this run wrote.</param>
/// <param name="ItemsPerWorker">Items per worker name.</param>
public sealed record ClusterJobSummaryRecord(string Job, int Total, int Done, int Failed, string Out, int WrittenNow, IReadOnlyDictionary<string, int> ItemsPerWorker);
