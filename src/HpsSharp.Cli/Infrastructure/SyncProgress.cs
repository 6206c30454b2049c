namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// The CLI's one progress adapter: reports synchronously on the reporting thread, one report at a time
/// (<see cref="Progress{T}"/> would post to the thread pool and reorder lines; libraries may report from several
/// threads at once).
/// </summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    private readonly object _gate = new();

    public void Report(T value)
    {
        lock (_gate)
        {
            report(value);
        }
    }
}

/// <summary>Decides when a plain (non-terminal) progress line is due: at most one per tenth of the work.</summary>
internal sealed class DecileGate
{
    private int _last = -1;

    /// <summary>True when <paramref name="done"/> of <paramref name="total"/> has entered a new tenth (always true for an empty total).</summary>
    public bool Next(long done, long total) => Next(ref _last, done, total);

    /// <summary>The same test over caller-held state, for several progress streams in one dictionary.</summary>
    public static bool Next(ref int last, long done, long total)
    {
        int decile = total <= 0 ? 10 : (int)(Math.Clamp(done, 0, total) * 10 / total);
        if (decile == last)
        {
            return false;
        }

        last = decile;
        return true;
    }
}
