using HpsSharp.Core;

namespace HpsSharp.Server;

/// <summary>
/// The whole request is refused (malformed JSON, a limit exceeded, a missing field). Becomes a problem+json answer
/// with <see cref="Status"/>; when a limit was exceeded, <see cref="Limit"/> names it and <see cref="Max"/> is its value.
/// </summary>
public sealed class RequestRejectedException : HpsException
{
    public RequestRejectedException(int status, string title, string detail, string? limit = null, long? max = null)
        : base($"{title}: {detail}")
    {
        Status = status;
        Title = title;
        Detail = detail;
        Limit = limit;
        Max = max;
    }

    /// <summary>HTTP status to answer with (400, 413, ...).</summary>
    public int Status { get; }

    /// <summary>Short summary of the problem type.</summary>
    public string Title { get; }

    /// <summary>What exactly is wrong, naming the field or item.</summary>
    public string Detail { get; }

    /// <summary>The setting that was exceeded (e.g. <c>max_items</c>), when a limit was exceeded.</summary>
    public string? Limit { get; }

    /// <summary>That setting's value.</summary>
    public long? Max { get; }
}

/// <summary>One item cannot be scored (bad base64, undecodable image, a path outside the root); the others go on.</summary>
public sealed class ItemRejectedException : HpsException
{
    public ItemRejectedException(string item, string reason)
        : base($"{item}: {reason}")
    {
        Item = item;
        Reason = reason;
    }

    /// <summary>The item, e.g. <c>items[3]</c>.</summary>
    public string Item { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
