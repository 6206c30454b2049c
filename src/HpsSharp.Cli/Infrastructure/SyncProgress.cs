namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// The <see cref="IProgress{T}"/> the CLI hands to libraries (under every <see cref="ProgressReporter"/> view): reports
/// synchronously on the reporting thread, one report at a time
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
