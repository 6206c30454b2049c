using HpsSharp.Cluster.Grains;

namespace HpsSharp.Cluster;

/// <summary>A snapshot of the cluster: live workers and every job's counts.</summary>
public sealed record ClusterSnapshot(IReadOnlyList<WorkerStatus> Workers, IReadOnlyList<JobProgress> Jobs)
{
    /// <summary>Reads the registry and each job.</summary>
    public static async Task<ClusterSnapshot> ReadAsync(IGrainFactory grains)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var registry = grains.GetGrain<IClusterRegistryGrain>(0);
        var workers = await registry.WorkersAsync(WorkerOptions.WorkerStaleAfter).ConfigureAwait(false);
        var jobs = new List<JobProgress>();
        foreach (var name in await registry.JobsAsync().ConfigureAwait(false))
        {
            jobs.Add(await grains.GetGrain<IJobGrain>(name).ProgressAsync().ConfigureAwait(false));
        }

        return new ClusterSnapshot(workers, jobs);
    }
}
