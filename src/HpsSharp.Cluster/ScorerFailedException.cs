namespace HpsSharp.Cluster;

/// <summary>The worker's scorer failed with a bug (not a batch fault): the worker stops with this as its failure.</summary>
public sealed class ScorerFailedException : Exception
{
    public ScorerFailedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
