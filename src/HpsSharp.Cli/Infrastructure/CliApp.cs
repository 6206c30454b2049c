using System.CommandLine;
using System.CommandLine.Parsing;
using System.Reflection;
using HpsSharp.Core;
using Spectre.Console;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>Builds the root command from the registered commands (<see cref="Commands"/>) and turns errors into exit codes.</summary>
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

    /// <summary>
    /// Every top-level command, registered explicitly (one file each under Commands/): a new command is one file plus
    /// one line here. A test checks that no <see cref="ICommandFactory"/> in the assembly is left out.
    /// </summary>
    public static IReadOnlyList<ICommandFactory> Commands { get; } =
    [
        new Commands.AnnotateCommand(),
        new Commands.BenchmarkCommand(),
        new Commands.CalibrateCommand(),
        new Commands.ClusterCommand(),
        new Commands.CohpCommand(),
        new Commands.CompareCommand(),
        new Commands.DoctorCommand(),
        new Commands.EvalCommand(),
        new Commands.ModelCommand(),
        new Commands.PreprocessCommand(),
        new Commands.RankCommand(),
        new Commands.ScoreCommand(),
        new Commands.ServeCommand(),
        new Commands.TokenizeCommand(),
        new Commands.TrainCommand(),
        new Commands.VersionCommand(),
    ];

    public static RootCommand BuildRoot(CliEnvironment env)
    {
        var root = new RootCommand("hps — HPSv3 human preference scores for text-to-image generation, in .NET");
        root.Options.Add(Verbose);
        var factories = Commands.Select(f => f.Create(env)).OrderBy(c => c.Name, StringComparer.Ordinal);
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
        var errors = parse.Errors.Select(e => e.Message).Concat(UnknownOptions(parse)).Distinct(StringComparer.Ordinal).ToList();
        if (errors.Count > 0)
        {
            return Usage(env, errors);
        }

        var verbose = parse.GetValue(Verbose);
        try
        {
            var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = env.Out, Error = env.Error };
            if (parse.CommandResult.Command.Name == "serve")
            {
                // System.CommandLine ends the process 2 s after SIGTERM/Ctrl+C; the service instead lets its host
                // handle the signal and drain accepted requests (--drain-timeout-s) before it exits.
                config.ProcessTerminationTimeout = null;
            }

            return await parse.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            env.ErrorConsole.MarkupLine("[yellow]cancelled[/]");
            return 130;
        }
        catch (UsageException ex)
        {
            // A usage error made from a library's option error names the field: print it as the flag.
            return Usage(env, [ex.InnerException is UserInputException { Field: not null } option && ex.Message == option.Message ? OptionFlags.Describe(option) : ex.Message]);
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

    private static int Usage(CliEnvironment env, IEnumerable<string> messages)
    {
        foreach (var m in messages)
        {
            env.ErrorConsole.MarkupLine($"[red]error:[/] {Markup.Escape(m.ReplaceLineEndings(" "))}");
        }

        env.Error.WriteLine("Run 'hps --help' (or 'hps COMMAND --help') for usage.");
        return UsageError;
    }

    /// <summary>
    /// Tokens that look like options but reached a command's positional argument. System.CommandLine hands an
    /// unknown "--flag" to an argument of arity zero-or-more (so <c>hps score --model M --bogus x.png</c> read
    /// "--bogus" as an image path); every command refuses them here instead. Values after "--" are positional by
    /// definition, and negative numbers are values, not options.
    /// </summary>
    internal static IEnumerable<string> UnknownOptions(ParseResult parse)
    {
        var dashDash = parse.Tokens.Select((t, i) => (t, i)).FirstOrDefault(x => x.t.Type == TokenType.DoubleDash);
        int limit = dashDash.t is null ? int.MaxValue : dashDash.i;
        var positions = new Dictionary<Token, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < parse.Tokens.Count; i++)
        {
            positions.TryAdd(parse.Tokens[i], i);
        }

        for (SymbolResult? r = parse.CommandResult; r is not null; r = r.Parent)
        {
            if (r is not CommandResult command)
            {
                continue;
            }

            foreach (var argument in command.Children.OfType<ArgumentResult>())
            {
                foreach (var token in argument.Tokens)
                {
                    bool afterDashDash = positions.TryGetValue(token, out var at) && at > limit;
                    if (!afterDashDash && LooksLikeOption(token.Value))
                    {
                        yield return $"unknown option '{token.Value}' for 'hps {CommandPath(command)}'";
                    }
                }
            }
        }
    }

    private static bool LooksLikeOption(string value) =>
        value.Length > 1 && value[0] == '-' && !double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _);

    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? r = command; r is CommandResult c && c.Command is not RootCommand; r = r.Parent)
        {
            names.Insert(0, c.Command.Name);
        }

        return string.Join(' ', names);
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

        var text = OptionFlags.Describe(ex).ReplaceLineEndings(" ");
        return ex is Cluster.ClusterUnavailableException { NoWorker: true } c
            ? $"{text}; start one with 'hps cluster worker --cluster redis://{c.Address.Host}:{c.Address.Port}'"
            : text;
    }
}
