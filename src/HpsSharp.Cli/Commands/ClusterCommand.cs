using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps cluster worker | status</c>: scale scoring out over many machines (Orleans silos, membership in Redis).</summary>
public sealed class ClusterCommand : ICommandFactory
{
    /// <summary><c>--cluster redis://HOST:PORT</c>, shared by every cluster command.</summary>
    internal static Option<string> ClusterOption(bool required) => new("--cluster")
    {
        Description = "The cluster's Redis: redis://HOST:PORT (membership and job state live there)",
        Required = required,
    };

    /// <summary><c>--cluster-id ID</c>: several clusters can share one Redis.</summary>
    internal static Option<string> ClusterIdOption() => new("--cluster-id")
    {
        Description = "Cluster id (several clusters can share one Redis)",
        DefaultValueFactory = _ => ClusterNames.DefaultClusterId,
    };

    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var cmd = new Command("cluster", "Score across many machines: run workers (Orleans silos) and look at the cluster; submit jobs with 'hps score --cluster'");
        cmd.Subcommands.Add(ClusterWorkerCommand.Create(env));
        cmd.Subcommands.Add(ClusterStatusCommand.Create(env));
        return cmd;
    }
}
