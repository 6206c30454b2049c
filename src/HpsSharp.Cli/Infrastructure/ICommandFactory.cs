using System.CommandLine;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// One <c>hps</c> subcommand. Every non-abstract class implementing this with a parameterless constructor is found
/// by <see cref="CliApp"/> and added to the root command, so a new command is one new file.
/// </summary>
public interface ICommandFactory
{
    /// <summary>Builds the command; its action writes through <paramref name="env"/> and returns the exit code.</summary>
    Command Create(CliEnvironment env);
}
