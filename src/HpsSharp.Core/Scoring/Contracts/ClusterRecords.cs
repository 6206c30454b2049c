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
