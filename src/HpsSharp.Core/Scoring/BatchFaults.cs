using System.Runtime.InteropServices;

namespace HpsSharp.Core.Scoring;

/// <summary>
/// How a scoring host (the service's queue, a cluster worker) tells a batch that failed for its circumstances from a
/// bug. Faults of one item (an undecodable image, a refused prompt) never get here: scorers report those per item.
/// </summary>
public static class BatchFaults
{
    /// <summary>
    /// True when a whole batch failed for a reason the host's circumstances explain, so the items may be reported as
    /// failed or tried again: its memory or device (libtorch reports CUDA out-of-memory and its other errors as an
    /// <see cref="ExternalException"/>), its disk or files, a timeout, or a domain error a scorer raises on purpose
    /// (<see cref="HpsException"/>). Anything else is a bug and must surface as one, never as bad data.
    /// </summary>
    public static bool IsBatchFault(Exception ex) =>
        ex is HpsException or OutOfMemoryException or ExternalException or IOException or UnauthorizedAccessException or TimeoutException;
}
