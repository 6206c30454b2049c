using System.CommandLine;
using System.Reflection;
using HpsSharp.Core;
using Spectre.Console;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>Builds the root command from every <see cref="ICommandFactory"/> and turns errors into exit codes.</summary>
public static class CliApp
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;

    /// <summary>Exit code for a user error (bad input, missing file).</summary>
    public const int UserError = 1;

    /// <summary>Exit code for a usage error (unknown option, missing argument).</summary>
    public const int UsageError = 2;

    /// <summary><c>--verbose</c>: stack traces on errors.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on errors", Recursive = true };

    public static RootCommand BuildRoot(CliEnvironment env)
    {
        var root = new RootCommand("hps — HPSv3 human preference scores for text-to-image generation, in .NET");
        root.Options.Add(Verbose);
        var factories = typeof(CliApp).Assembly.GetTypes()
            .Where(t => typeof(ICommandFactory).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (ICommandFactory)Activator.CreateInstance(t)!)
            .Select(f => f.Create(env))
            .OrderBy(c => c.Name, StringComparer.Ordinal);
        foreach (var c in factories)
        {
            root.Subcommands.Add(c);
        }

        return root;
    }

    public static async Task<int> RunAsync(string[] args, CliEnvironment env, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(env);
        var root = BuildRoot(env);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                env.ErrorConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)}");
            }

            env.Error.WriteLine("Run 'hps --help' (or 'hps COMMAND --help') for usage.");
            return UsageError;
        }

        var verbose = parse.GetValue(Verbose);
        try
        {
            var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = env.Out, Error = env.Error };
            return await parse.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            env.ErrorConsole.MarkupLine("[yellow]cancelled[/]");
            return 130;
        }
        catch (Exception ex) when (IsUserError(ex))
        {
            env.ErrorConsole.MarkupLine($"[red]error:[/] {Markup.Escape(Flatten(ex))}");
            if (verbose)
            {
                env.Error.WriteLine(ex.ToString());
            }

            return UserError;
        }
        catch (Exception ex)
        {
            env.ErrorConsole.MarkupLine($"[red]unexpected error:[/] {Markup.Escape(Flatten(ex))}");
            env.Error.WriteLine(verbose ? ex.ToString() : "(run with --verbose for the stack trace)");
            return UserError;
        }
    }

    /// <summary>Errors caused by the user's input or environment rather than by a bug.</summary>
    public static bool IsUserError(Exception ex) => ex is HpsException or FileNotFoundException or DirectoryNotFoundException
        or InvalidDataException or UnauthorizedAccessException or NotSupportedException or ArgumentException
        or System.Text.Json.JsonException or IOException or HttpRequestException
        || (ex is TargetInvocationException { InnerException: { } inner } && IsUserError(inner))
        || (ex is AggregateException { InnerException: { } agg } && IsUserError(agg));

    private static string Flatten(Exception ex)
    {
        while (ex is TargetInvocationException or AggregateException && ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex.Message.ReplaceLineEndings(" ");
    }
}
