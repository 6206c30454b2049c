namespace HpsSharp.Core.Metrics;

/// <summary>A metric cannot be computed from the given values (too few, non-finite, or all equal).</summary>
public sealed class MetricException : HpsException
{
    public MetricException(string metric, string reason)
        : base($"{metric}: {reason}")
    {
        Metric = metric;
        Reason = reason;
    }

    /// <summary>The metric that was asked for.</summary>
    public string Metric { get; }

    /// <summary>Why it is undefined for these values.</summary>
    public string Reason { get; }
}
