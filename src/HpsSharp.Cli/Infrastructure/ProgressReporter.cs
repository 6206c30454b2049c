using System.Diagnostics;
using HpsSharp.Core.Scoring;
using Spectre.Console;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// How one kind of progress report is shown: a Spectre progress bar (one, or one per <see cref="Key"/>) when the
/// terminal is interactive, otherwise the plain lines of <see cref="Line"/> on stderr. stdout is never touched.
/// </summary>
/// <typeparam name="TProgress">The library's progress report.</typeparam>
public sealed record ProgressView<TProgress>
{
    /// <summary>Work done so far (items or bytes).</summary>
    public required Func<TProgress, long> Done { get; init; }

    /// <summary>Work in all; null while unknown.</summary>
    public required Func<TProgress, long?> Total { get; init; }

    /// <summary>The label of the single bar (plain text; escaped here), shown from the start; null with <see cref="Key"/>.</summary>
    public string? Title { get; init; }

    /// <summary>
    /// The bar's label at a report (plain text; escaped here): a keyed bar's name, or the single bar's current step;
    /// null: the key, or <see cref="Title"/>.
    /// </summary>
    public Func<TProgress, string>? Label { get; init; }

    /// <summary>
    /// The plain line for a report, or null for none. <see cref="ProgressLine.Due"/> keeps the usual rule of at most
    /// one line per tenth of the work, so logs stay short.
    /// </summary>
    public required Func<TProgress, ProgressLine, string?> Line { get; init; }

    /// <summary>One bar (and one plain-line state) per key, e.g. per downloaded file, added at its first report; null: the single <see cref="Title"/> bar.</summary>
    public Func<TProgress, string>? Key { get; init; }

    /// <summary>Markup put after the label (a stage such as " (retrying)"); null for none.</summary>
    public Func<TProgress, string>? Status { get; init; }

    /// <summary>True for the report that ends a bar (filled and stopped).</summary>
    public Func<TProgress, bool>? Finished { get; init; }

    /// <summary>The work is bytes: the bars show the amount and the rate.</summary>
    public bool Bytes { get; init; }
}

/// <summary>The plain-line state of one progress stream (one bar).</summary>
public sealed class ProgressLine(long start)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _decile = -1;

    /// <summary>True when <paramref name="done"/> of <paramref name="total"/> has entered a new tenth (always the first time when the total is unknown).</summary>
    public bool Due(long done, long? total)
    {
        int decile = total is not > 0 ? 10 : (int)(Math.Clamp(done, 0, total.Value) * 10 / total.Value);
        if (decile == _decile)
        {
            return false;
        }

        _decile = decile;
        return true;
    }

    /// <summary>Whether <see cref="Due"/> has said yes before: the stream has shown progress, not only its end.</summary>
    public bool Started => _decile >= 0;

    /// <summary>Time since the stream's first report.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Work already done at the stream's first report (a resumed download's bytes).</summary>
    public long Start { get; } = start;
}

/// <summary>Runs work with its progress shown as a <see cref="ProgressView{TProgress}"/> says: the CLI's one progress adapter.</summary>
public static class ProgressReporter
{
    /// <summary>Scoring: a bar labelled <paramref name="label"/>, or "label: done/total" lines.</summary>
    public static Task<T> RunAsync<T>(CliEnvironment env, string label, Func<IProgress<ScoreProgress>, Task<T>> work) =>
        RunAsync(env, new ProgressView<ScoreProgress>
        {
            Done = p => p.Done,
            Total = p => p.Total,
            Title = label,
            Line = (p, line) => line.Due(p.Done, p.Total) ? $"{label}: {p.Done}/{p.Total}" : null,
        }, work);

    /// <summary>Runs synchronous <paramref name="work"/> on this thread, showing its reports as <paramref name="view"/> says.</summary>
    public static T Run<TProgress, T>(CliEnvironment env, ProgressView<TProgress> view, Func<IProgress<TProgress>, T> work, bool? bars = null) =>
        RunAsync(env, view, p => Task.FromResult(work(p)), bars).GetAwaiter().GetResult();

    /// <summary>
    /// Runs <paramref name="work"/>, showing its reports as <paramref name="view"/> says: bars when <paramref name="bars"/>
    /// (by default when the terminal is interactive), else plain lines.
    /// </summary>
    public static async Task<T> RunAsync<TProgress, T>(CliEnvironment env, ProgressView<TProgress> view, Func<IProgress<TProgress>, Task<T>> work, bool? bars = null)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(work);
        if (!(bars ?? env.Interactive))
        {
            var lines = new Dictionary<string, ProgressLine>(StringComparer.Ordinal);
            return await work(new SyncProgress<TProgress>(p =>
            {
                string key = view.Key?.Invoke(p) ?? string.Empty;
                if (!lines.TryGetValue(key, out var line))
                {
                    lines[key] = line = new ProgressLine(view.Done(p));
                }

                if (view.Line(p, line) is { } text)
                {
                    env.Error.WriteLine(text);
                }
            })).ConfigureAwait(false);
        }

        ProgressColumn[] columns = view.Bytes
            ? [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn()]
            : [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn()];
        return await env.ErrorConsole.Progress().Columns(columns).StartAsync(async ctx =>
        {
            var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
            if (view.Key is null)
            {
                tasks[string.Empty] = ctx.AddTask(Markup.Escape(view.Title ?? string.Empty));
            }

            return await work(new SyncProgress<TProgress>(p =>
            {
                string key = view.Key?.Invoke(p) ?? string.Empty;
                string label = view.Label?.Invoke(p) ?? (view.Key is null ? view.Title ?? string.Empty : key);
                long? total = view.Total(p);
                if (!tasks.TryGetValue(key, out var bar))
                {
                    tasks[key] = bar = ctx.AddTask(Markup.Escape(label), maxValue: Math.Max(1, total ?? 1));
                }

                if (total is { } t)
                {
                    bar.MaxValue = Math.Max(1, t);
                }

                if (view.Label is not null || view.Status is not null)
                {
                    bar.Description = Markup.Escape(label) + view.Status?.Invoke(p);
                }

                bar.Value = view.Done(p);
                if (view.Finished?.Invoke(p) == true)
                {
                    bar.Value = bar.MaxValue;
                    bar.StopTask();
                }
            })).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }
}
