using System.Globalization;
using System.Text;
using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Evaluation;

/// <summary>The side-by-side report of several scorers on one dataset (<c>hps eval --scorers</c>).</summary>
public static partial class Reports
{
    /// <inheritdoc cref="ToJson(EvalResult)"/>
    public static string ToJson(EvalComparison comparison) => ContractJson.Write(comparison, ContractJson.Report.EvalComparison);

    /// <summary>
    /// Writes <c>report.md</c>, <c>report.html</c>, <c>result.json</c> and <c>accuracy.png</c> of the comparison into
    /// <paramref name="dir"/>, and each scorer's own full report into <c>dir/&lt;scorer&gt;/</c>; returns the HTML path.
    /// </summary>
    public static string Write(EvalComparison comparison, string dir)
    {
        ArgumentNullException.ThrowIfNull(comparison);
        Directory.CreateDirectory(dir);
        for (int i = 0; i < comparison.Results.Count; i++)
        {
            Write(comparison.Results[i], Path.Combine(dir, comparison.Scorers[i].Scorer));
        }

        var png = Plots.ScorerAccuracy(comparison);
        return WriteFiles(dir, [("accuracy.png", "Accuracy per scorer", png)], ToJson(comparison), Markdown(comparison), Html(comparison, png));
    }

    /// <summary>One line: which scorer is most accurate, over how many pairs.</summary>
    public static string Headline(EvalComparison c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var best = c.Scorers.Where(s => s.Accuracy is not null).MaxBy(s => s.Accuracy);
        string pairs = c.SamePairs ? $"over the same {c.Scorers[0].Pairs} pairs" : "(pair counts differ: some scorers skipped pairs, see the table)";
        return best is null
            ? $"{c.Protocol.Metric} of {c.Scorers.Count} scorers on {Path.GetFileName(c.Protocol.Dataset)}: no pair could be counted"
            : string.Create(CultureInfo.InvariantCulture, $"{c.Protocol.Metric} of {c.Scorers.Count} scorers on {Path.GetFileName(c.Protocol.Dataset)} {pairs}; highest: {best.Scorer} {Percent(best.Accuracy)}");
    }

    /// <summary>The comparison table as rows of text: scorer, accuracy, 95% interval, pairs, correct, predicted ties, paper.</summary>
    public static IReadOnlyList<string[]> ComparisonRows(EvalComparison c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return c.Scorers.Select(s => new[]
        {
            s.Scorer,
            Percent(s.Accuracy),
            s.Ci95 is { } ci ? $"{Percent(ci[0])} – {Percent(ci[1])}" : "n/a",
            s.Pairs.ToString(CultureInfo.InvariantCulture),
            s.Correct.ToString(CultureInfo.InvariantCulture),
            s.PredictedTies.ToString(CultureInfo.InvariantCulture),
            s.SkippedPairs.ToString(CultureInfo.InvariantCulture),
            s.PaperAccuracy is not null ? PaperAccuracy.Format(s.PaperAccuracy) : "— " + s.PaperNote,
        }).ToList();
    }

    /// <summary>The headers of <see cref="ComparisonRows"/>; the paper's column is labelled as the paper's.</summary>
    public static IReadOnlyList<string> ComparisonHeaders(EvalComparison c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return ["scorer", "accuracy", "95% CI", "pairs", "correct", "predicted ties", "skipped pairs", c.Paper.Column is null ? "paper" : $"paper ({c.Paper.Column}, reference only)"];
    }

    /// <summary>The Markdown report of a comparison.</summary>
    public static string Markdown(EvalComparison c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var sb = new StringBuilder();
        sb.Append("# Scorers side by side — ").AppendLine(Path.GetFileName(c.Protocol.Dataset)).AppendLine();
        sb.Append("**").Append(EscapeMd(Headline(c))).AppendLine("**").AppendLine();
        var headers = ComparisonHeaders(c);
        sb.Append("| ").AppendJoin(" | ", headers.Select(EscapeMd)).AppendLine(" |");
        sb.Append('|').AppendJoin("", headers.Select(_ => "---|")).AppendLine();
        foreach (var row in ComparisonRows(c))
        {
            sb.Append("| ").AppendJoin(" | ", row.Select(EscapeMd)).AppendLine(" |");
        }

        sb.AppendLine();
        sb.Append("Paper: ").Append(EscapeMd(c.Paper.Source)).Append(". ").Append(EscapeMd(c.Paper.Note)).AppendLine(".").AppendLine();
        AppendProtocolMd(sb, c.Protocol.Lines());
        sb.AppendLine("## Scorers").AppendLine().AppendLine("| Scorer | Model | dtype | Preprocessing | Cache hits |").AppendLine("|---|---|---|---|---|");
        foreach (var s in c.Scorers)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| [{EscapeMd(s.Scorer)}]({Uri.EscapeDataString(s.Scorer)}/report.md) | {EscapeMd(ModelAndScores(s))} | {EscapeMd(s.Dtype)} | {EscapeMd(s.Preprocessing)} | {s.CacheHits} |");
        }

        sb.AppendLine().AppendLine("## Accuracy per scorer").AppendLine().AppendLine("![Accuracy per scorer](accuracy.png)").AppendLine();
        return sb.ToString();
    }

    /// <summary>The model, and where the scores came from when that is not the model itself (a scores file).</summary>
    public static string ModelAndScores(ScorerAccuracy s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return s.Scores == s.Model ? s.Model : $"{s.Model}; scores: {s.Scores}";
    }

    private static string Html(EvalComparison c, byte[] png)
    {
        var body = new StringBuilder();
        body.Append("<h1>Scorers side by side — ").Append(Enc(Path.GetFileName(c.Protocol.Dataset))).AppendLine("</h1>");
        body.Append("<p class=\"headline\">").Append(Enc(Headline(c))).AppendLine("</p>");
        body.Append("<table class=\"comparison\"><tr>");
        foreach (var h in ComparisonHeaders(c))
        {
            body.Append("<th>").Append(Enc(h)).Append("</th>");
        }

        body.AppendLine("</tr>");
        foreach (var row in ComparisonRows(c))
        {
            body.Append("<tr>");
            for (int i = 0; i < row.Length; i++)
            {
                body.Append(i == 0 ? "<td><a href=\"" + Enc(Uri.EscapeDataString(row[0])) + "/report.html\">" + Enc(row[0]) + "</a></td>" : "<td>" + Enc(row[i]) + "</td>");
            }

            body.AppendLine("</tr>");
        }

        body.AppendLine("</table>");
        body.Append("<p><small>Paper: ").Append(Enc(c.Paper.Source)).Append(". ").Append(Enc(c.Paper.Note)).AppendLine(".</small></p>");
        AppendProtocolHtml(body, c.Protocol.Lines());
        body.AppendLine("<h2>Scorers</h2><table><tr><th>Scorer</th><th>Model</th><th>dtype</th><th>Preprocessing</th><th>Cache hits</th></tr>");
        foreach (var s in c.Scorers)
        {
            body.Append(CultureInfo.InvariantCulture, $"<tr><td>{Enc(s.Scorer)}</td><td>{Enc(ModelAndScores(s))}</td><td>{Enc(s.Dtype)}</td><td>{Enc(s.Preprocessing)}</td><td>{s.CacheHits}</td></tr>").AppendLine();
        }

        body.AppendLine("</table>");
        AppendPlots(body, [("accuracy.png", "Accuracy per scorer", png)]);
        return Page("Scorers side by side", body.ToString());
    }
}
