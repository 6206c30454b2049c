using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>The CLI's one progress adapter: plain lines (at most one per tenth, per stream) and bars.</summary>
[Trait("Category", "Unit")]
public sealed class ProgressReporterTests
{
    private sealed record Report(string File, long Done, long? Total, bool End);

    private static ProgressView<Report> View() => new()
    {
        Key = p => p.File,
        Label = p => p.File,
        Done = p => p.Done,
        Total = p => p.Total,
        Finished = p => p.End,
        Line = (p, line) => p.End
            ? $"{p.File}: {(line.Started ? "done" : "nothing to do")}"
            : line.Due(p.Done, p.Total) ? $"{p.File}: {p.Done}/{p.Total?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} from {line.Start}" : null,
    };

    [Fact]
    public async Task PlainScoringLinesComeOncePerTenth()
    {
        var err = new StringWriter();
        var env = new CliEnvironment(TextWriter.Null, err, interactive: false);
        int result = await ProgressReporter.RunAsync(env, "scoring", p =>
        {
            for (int i = 1; i <= 100; i++)
            {
                p.Report(new ScoreProgress(i, 100));
            }

            return Task.FromResult(7);
        });

        Assert.Equal(7, result);
        var lines = err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["scoring: 1/100", "scoring: 10/100", "scoring: 20/100", "scoring: 30/100", "scoring: 40/100", "scoring: 50/100", "scoring: 60/100", "scoring: 70/100", "scoring: 80/100", "scoring: 90/100", "scoring: 100/100"], lines);
    }

    [Fact]
    public void EachKeyHasItsOwnPlainLineState()
    {
        var err = new StringWriter();
        var env = new CliEnvironment(TextWriter.Null, err, interactive: false);
        ProgressReporter.Run(env, View(), p =>
        {
            p.Report(new Report("a", 40, 100, false));
            p.Report(new Report("b", 0, null, true));   // ends before any progress: "nothing to do"
            p.Report(new Report("a", 45, 100, false));  // same tenth as 40: no line
            p.Report(new Report("c", 0, null, false));  // unknown total: one line, then none
            p.Report(new Report("c", 5, null, false));
            p.Report(new Report("a", 100, 100, false));
            p.Report(new Report("a", 100, 100, true));
            return 0;
        });

        var lines = err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["a: 40/100 from 40", "b: nothing to do", "c: 0/? from 0", "a: 100/100 from 40", "a: done"], lines);
    }

    [Fact]
    public async Task BarsWriteNoPlainLines()
    {
        // The bars themselves are not observable here (the test's error console is not a terminal, so Spectre draws
        // nothing); what is: the keyed bars are created, updated and finished without a plain line or an error.
        var err = new StringWriter();
        var env = new CliEnvironment(TextWriter.Null, err, interactive: true);
        int result = await ProgressReporter.RunAsync(env, View(), p =>
        {
            p.Report(new Report("weights.bin", 50, null, false));
            p.Report(new Report("weights.bin", 50, 100, false));
            p.Report(new Report("config.json", 10, 10, true));
            p.Report(new Report("weights.bin", 100, 100, true));
            return Task.FromResult(3);
        });

        Assert.Equal(3, result);
        Assert.Equal(string.Empty, err.ToString());

        // bars: false overrides the terminal (CoHP with --json prints plain lines even on a terminal).
        err.GetStringBuilder().Clear();
        await ProgressReporter.RunAsync(env, View(), p =>
        {
            p.Report(new Report("x", 100, 100, true));
            return Task.FromResult(0);
        }, bars: false);
        Assert.Equal("x: nothing to do", err.ToString().Trim());
    }
}
