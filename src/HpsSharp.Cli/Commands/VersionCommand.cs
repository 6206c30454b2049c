using System.CommandLine;
using System.Reflection;
using HpsSharp.Cli.Infrastructure;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps version</c>: the tool's version and runtime.</summary>
public sealed class VersionCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var cmd = new Command("version", "Print the hps version and .NET runtime");
        cmd.SetAction(_ =>
        {
            var v = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            env.Out.WriteLine($"hps {v} (.NET {Environment.Version})");
            return CliApp.Ok;
        });
        return cmd;
    }
}
