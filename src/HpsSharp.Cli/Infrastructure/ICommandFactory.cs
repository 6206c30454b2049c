using System.CommandLine;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// One <c>hps</c> subcommand, in a file of its own, registered in <see cref="CliApp.Commands"/>.
/// </summary>
public interface ICommandFactory
{
    /// <summary>Builds the command; its action writes through <paramref name="env"/> and returns the exit code.</summary>
    Command Create(CliEnvironment env);
}
