namespace HpsSharp.Cluster.Grains;

/// <summary>The persisted part of the registry: job names, oldest first, and which are complete.</summary>
[GenerateSerializer]
public sealed class RegistryState
{
    [Id(0)] public List<string> Jobs { get; set; } = [];

    [Id(1)] public HashSet<string> Complete { get; set; } = [];
}

/// <summary>The cluster's directory of jobs and workers (see <see cref="IClusterRegistryGrain"/>).</summary>
public sealed class ClusterRegistryGrain(
    [PersistentState("registry", ClusterNames.Storage)] IPersistentState<RegistryState> state) : Grain, IClusterRegistryGrain
{
    private readonly Dictionary<string, WorkerStatus> _workers = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public async Task AddJobAsync(string job)
    {
        if (!state.State.Jobs.Contains(job))
        {
            state.State.Jobs.Add(job);
            await state.WriteStateAsync().ConfigureAwait(true);
        }
    }

    /// <inheritdoc/>
    public async Task RemoveJobAsync(string job)
    {
        bool removed = state.State.Jobs.Remove(job);
        removed |= state.State.Complete.Remove(job);
        if (removed)
        {
            await state.WriteStateAsync().ConfigureAwait(true);
        }
    }

    /// <inheritdoc/>
    public async Task JobCompleteAsync(string job)
    {
        if (state.State.Complete.Add(job))
        {
            await state.WriteStateAsync().ConfigureAwait(true);
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> ActiveJobsAsync() =>
        Task.FromResult<IReadOnlyList<string>>([.. state.State.Jobs.Where(j => !state.State.Complete.Contains(j))]);

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> JobsAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Jobs]);

    /// <inheritdoc/>
    public Task HeartbeatAsync(WorkerStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        _workers[status.Worker.Name] = status with { LastSeenUtc = DateTime.UtcNow };
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task LeaveAsync(string worker)
    {
        _workers.Remove(worker);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<WorkerStatus>> WorkersAsync(TimeSpan within)
    {
        var cutoff = DateTime.UtcNow - within;
        return Task.FromResult<IReadOnlyList<WorkerStatus>>([.. _workers.Values.Where(w => w.LastSeenUtc >= cutoff).OrderBy(w => w.Worker.Name, StringComparer.Ordinal)]);
    }
}
