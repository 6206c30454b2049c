namespace HpsSharp.Cluster.Grains;

/// <summary>Where one item is.</summary>
public enum ItemStatus
{
    /// <summary>Waiting for a worker.</summary>
    Pending = 0,

    /// <summary>Held by a worker until its lease expires.</summary>
    Leased = 1,

    /// <summary>Scored.</summary>
    Done = 2,

    /// <summary>Finished with an error line.</summary>
    Failed = 3,
}

/// <summary>The persisted state of a job (grain storage).</summary>
[GenerateSerializer]
public sealed class JobState
{
    [Id(0)] public JobHeader? Header { get; set; }

    [Id(1)] public List<JobItemState> Items { get; set; } = [];

    /// <summary>Indices in the order they finished; position + 1 is the item's <c>Seq</c>.</summary>
    [Id(2)] public List<int> FinishedOrder { get; set; } = [];

    [Id(3)] public bool Sealed { get; set; }

    [Id(4)] public List<string> Refusals { get; set; } = [];
}

/// <summary>The persisted state of one item.</summary>
[GenerateSerializer]
public sealed class JobItemState
{
    [Id(0)] public int Index { get; set; }

    [Id(1)] public string Prompt { get; set; } = string.Empty;

    [Id(2)] public string Image { get; set; } = string.Empty;

    /// <summary>Uploaded bytes; dropped once the item is finished so the state does not keep them.</summary>
    [Id(3)] public byte[]? Bytes { get; set; }

    [Id(4)] public ItemStatus Status { get; set; }

    [Id(5)] public int Attempts { get; set; }

    [Id(6)] public string? LeaseId { get; set; }

    [Id(7)] public string? Worker { get; set; }

    [Id(8)] public DateTime LeaseExpiryUtc { get; set; }

    [Id(9)] public double? Mu { get; set; }

    [Id(10)] public double? LogSigma { get; set; }

    [Id(11)] public string? Error { get; set; }

    [Id(12)] public long Seq { get; set; }

    /// <summary>Why the last lease was lost, for the error line when attempts run out.</summary>
    [Id(13)] public string? LastProblem { get; set; }
}
