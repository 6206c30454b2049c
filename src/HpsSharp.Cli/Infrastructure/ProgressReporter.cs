using HpsSharp.Core.Scoring;
using Spectre.Console;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// Runs work with a progress display: a Spectre progress bar when the terminal is interactive, otherwise plain
/// "label: done/total" lines on stderr (at most one per 10% so logs stay short). stdout is never touched.
/// </summary>
public static class ProgressReporter
{
    public static async Task<T> RunAsync<T>(CliEnvironment env, string label, Func<IProgress<ScoreProgress>, Task<T>> work)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(work);
        if (env.Interactive)
        {
            return await env.ErrorConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(label));
                    var progress = new SyncProgress<ScoreProgress>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Done;
                    });
                    return await work(progress).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }

        var gate = new DecileGate();
        var plain = new SyncProgress<ScoreProgress>(p =>
        {
            if (gate.Next(p.Done, p.Total))
            {
                env.Error.WriteLine($"{label}: {p.Done}/{p.Total}");
            }
        });
        return await work(plain).ConfigureAwait(false);
    }
}
