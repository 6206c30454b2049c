using System.CommandLine;
using HpsSharp.Cli.Infrastructure;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps annotate serve | export | stats</c>: collect human preferences, export them as HPDv3, measure agreement.</summary>
public sealed class AnnotateCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var cmd = new Command("annotate", "Collect pairwise human preferences in a web page, export them as HPDv3 training data, and report agreement");
        cmd.Subcommands.Add(AnnotateServeCommand.Create(env));
        cmd.Subcommands.Add(AnnotateExportCommand.Create(env));
        cmd.Subcommands.Add(AnnotateStatsCommand.Create(env));
        return cmd;
    }
}
