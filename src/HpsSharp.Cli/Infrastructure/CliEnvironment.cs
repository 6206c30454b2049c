using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using Spectre.Console;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>Where a command writes and how it gets a scorer; tests build one over string writers and a fake scorer.</summary>
public sealed class CliEnvironment
{
    public CliEnvironment(TextWriter stdout, TextWriter stderr, bool interactive, Func<ScorerOptions, IScorer>? scorerLoader = null)
    {
        Out = stdout;
        Error = stderr;
        Interactive = interactive;
        ScorerLoader = scorerLoader ?? DefaultScorerLoader.Load;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        ErrorConsole = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stderr),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!interactive)
        {
            // Spectre assumes 80 columns when the output is not a terminal and hard-wraps at that width, which split
            // long error messages over lines and file names inside table cells. A redirected line has no width.
            Console.Profile.Width = UnboundedWidth;
            ErrorConsole.Profile.Width = UnboundedWidth;
        }
    }

    /// <summary>The width given to Spectre when writing to a file or pipe: wider than any path or message.</summary>
    private const int UnboundedWidth = 1 << 16;

    /// <summary>Standard output (machine-readable output goes here and nowhere else).</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error (messages, progress when not interactive).</summary>
    public TextWriter Error { get; }

    /// <summary>True when stdout is a terminal: progress bars and colours; otherwise plain lines.</summary>
    public bool Interactive { get; }

    /// <summary>Spectre console over <see cref="Out"/> for tables.</summary>
    public IAnsiConsole Console { get; }

    /// <summary>Spectre console over <see cref="Error"/> for red messages and progress.</summary>
    public IAnsiConsole ErrorConsole { get; }

    /// <summary>Loads the scorer for commands that take <c>--model</c>.</summary>
    public Func<ScorerOptions, IScorer> ScorerLoader { get; }

    public static CliEnvironment FromConsole() =>
        new(System.Console.Out, System.Console.Error, !System.Console.IsOutputRedirected && !System.Console.IsErrorRedirected);
}

/// <summary>How to load a scorer: the model folder and run options common to every scoring command.</summary>
/// <param name="ModelDir">The model folder.</param>
/// <param name="Dtype">The backbone precision (HPSv3; the baselines run in fp32).</param>
/// <param name="Device">Where the model runs (HPSv3; the baselines run on the CPU).</param>
/// <param name="BatchSize">Items per forward pass.</param>
/// <param name="Deterministic">
/// One item per forward pass: an item's score does not depend on which other items share its batch (with batches,
/// padding and the matrix shapes change the rounding: about 5e-7 with the tiny model, up to 4e-4 reported for the 7B
/// model in bf16). Costs the throughput that batching buys.
/// </param>
public sealed record ScorerOptions(string ModelDir, Precision Dtype = Precision.Bf16, DeviceSpec Device = default, int BatchSize = 4, bool Deterministic = false)
{
    /// <summary>The registry name of the scorer (<c>hpsv3</c> by default; see <c>ScorerRegistry</c>).</summary>
    public string Scorer { get; init; } = "hpsv3";

    /// <summary>Where the CLIP vocabulary is when the model folder lacks it (baseline scorers).</summary>
    public string? TokenizerDir { get; init; }

    /// <summary>HPSv2: antialiased resize (default) or the authors' 2023 behaviour.</summary>
    public bool Antialias { get; init; } = true;

    /// <summary>CLIPScore: caption prefix (empty by default).</summary>
    public string CaptionPrefix { get; init; } = string.Empty;
}
