using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Evaluation;

/// <summary>
/// Writes results as JSON, Markdown and a self-contained HTML page (plots embedded as PNG data URIs). Every report
/// starts with the protocol block. Files are written atomically (temporary file, then rename).
/// </summary>
public static partial class Reports
{
    /// <summary>The result as one JSON document (Core's contract, <see cref="ContractJson.Report"/>).</summary>
    public static string ToJson(EvalResult result) => ContractJson.Write(result, ContractJson.Report.EvalResult);

    /// <inheritdoc cref="ToJson(EvalResult)"/>
    public static string ToJson(BenchmarkResult result) => ContractJson.Write(result, ContractJson.Report.BenchmarkResult);

    /// <summary>Writes <c>report.md</c>, <c>report.html</c>, <c>result.json</c> and the PNG plots into <paramref name="dir"/>; returns the HTML path.</summary>
    public static string Write(EvalResult result, string dir)
    {
        ArgumentNullException.ThrowIfNull(result);
        Directory.CreateDirectory(dir);
        var plots = new List<(string File, string Title, byte[] Png)>
        {
            ("scores.png", "Score distribution per model", Plots.ScoreDistribution(result.ScoreSamples)),
        };
        var groups = result.ByCategory.Count > 0 ? result.ByCategory : result.ByModelPair;
        if (groups.Count > 0)
        {
            string what = result.ByCategory.Count > 0 ? "category" : "model pair";
            plots.Add(("accuracy.png", $"Accuracy per {what}", Plots.AccuracyBars(groups, result.Accuracy ?? 0, $"Accuracy per {what} ({result.Protocol.TiePolicy} ties)")));
        }

        if (result.Reliability.Any(b => b.Count > 0))
        {
            plots.Add(("reliability.png", "Reliability curve", Plots.Reliability(result.Reliability)));
        }

        return WriteFiles(dir, plots, ToJson(result), Markdown(result, plots.Select(p => (p.File, p.Title)).ToArray()), Html(result, plots));
    }

    /// <inheritdoc cref="Write(EvalResult, string)"/>
    public static string Write(BenchmarkResult result, string dir)
    {
        ArgumentNullException.ThrowIfNull(result);
        Directory.CreateDirectory(dir);
        var plots = new List<(string File, string Title, byte[] Png)> { ("overall.png", "Overall score per model", Plots.BenchmarkBars(result.Models)) };
        if (result.Models.Any(m => m.HumanReference is not null))
        {
            plots.Add(("vs_human.png", "Overall score against the human reference", Plots.BenchmarkScatter(result.Models, "Model score vs human reference")));
        }

        return WriteFiles(dir, plots, ToJson(result), Markdown(result, plots.Select(p => (p.File, p.Title)).ToArray()), Html(result, plots));
    }

    /// <summary>Writes the plots, <c>result.json</c>, <c>report.md</c> and <c>report.html</c> into <paramref name="dir"/>; returns the HTML path.</summary>
    private static string WriteFiles(string dir, IReadOnlyList<(string File, string Title, byte[] Png)> plots, string json, string markdown, string html)
    {
        foreach (var (file, _, png) in plots)
        {
            AtomicWrite(Path.Combine(dir, file), png);
        }

        AtomicWrite(Path.Combine(dir, "result.json"), Encoding.UTF8.GetBytes(json));
        AtomicWrite(Path.Combine(dir, "report.md"), Encoding.UTF8.GetBytes(markdown));
        string page = Path.Combine(dir, "report.html");
        AtomicWrite(page, Encoding.UTF8.GetBytes(html));
        return page;
    }

    /// <summary>Percent with one decimal, or "n/a".</summary>
    public static string Percent(double? x) => x is { } v ? (v * 100).ToString("F2", CultureInfo.InvariantCulture) + "%" : "n/a";

    /// <summary>A number with three decimals, or "n/a".</summary>
    public static string Num(double? x, int decimals = 3) => x is { } v ? v.ToString("F" + decimals, CultureInfo.InvariantCulture) : "n/a";

    /// <summary>The headline line: accuracy, interval and counts.</summary>
    public static string Headline(EvalResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        string ci = r.Ci95 is { } c ? $" (95% CI {Percent(c[0])} – {Percent(c[1])})" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{r.Metric} = {Percent(r.Accuracy)}{ci} over {r.Pairs} pairs: {r.Correct} correct, {r.Wrong} wrong, {r.PredictedTies} predicted ties, {r.TruthTies} ground-truth ties{(r.Protocol.GroundTruthTies == "listed" ? " (counted as listed)" : string.Empty)}");
    }

    /// <summary>The Markdown report.</summary>
    public static string Markdown(EvalResult r, IReadOnlyList<(string File, string Title)> plots)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(plots);
        var sb = new StringBuilder();
        sb.Append("# Preference evaluation — ").AppendLine(Path.GetFileName(r.Protocol.Dataset)).AppendLine();
        sb.Append("**").Append(Headline(r)).AppendLine("**").AppendLine();
        if (!r.Protocol.ReleasedHpsv3)
        {
            sb.AppendLine("> The scores do not come from the released HPSv3 checkpoint (see *model* below).").AppendLine();
        }

        AppendProtocolMd(sb, r.Protocol.Lines());
        if (r.MeanItemAccuracy is not null)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Ranked items: {r.Items}; mean of per-item accuracies: {Percent(r.MeanItemAccuracy)}.").AppendLine();
        }

        AppendGroupsMd(sb, "By category", r.ByCategory);
        AppendGroupsMd(sb, "By model pair", r.ByModelPair);
        if (r.Monitors is { } monitors)
        {
            sb.AppendLine("## Reward-hacking monitors").AppendLine();
            sb.Append("**").Append(EscapeMd(MonitorHeadline(monitors))).AppendLine("**").AppendLine();
            sb.AppendLine("| Monitor | Value | Fires when | Fires |").AppendLine("|---|---|---|---|");
            foreach (var (name, value, when, fires) in MonitorRows(monitors))
            {
                sb.Append("| ").Append(EscapeMd(name)).Append(" | ").Append(EscapeMd(value)).Append(" | ").Append(EscapeMd(when)).Append(" | ").Append(fires switch { true => "**yes**", false => "no", null => "—" }).AppendLine(" |");
            }

            sb.AppendLine().Append(EscapeMd(MonitorScope(monitors))).AppendLine().AppendLine();
        }
        if (r.Problems.Count > 0)
        {
            sb.AppendLine("## Missing or failed images (first ones)").AppendLine();
            foreach (var p in r.Problems)
            {
                sb.Append("- ").AppendLine(EscapeMd(p));
            }

            sb.AppendLine();
        }

        foreach (var (file, title) in plots)
        {
            sb.Append("## ").AppendLine(title).AppendLine().Append("![").Append(title).Append("](").Append(file).AppendLine(")").AppendLine();
        }

        sb.Append("Reliability curve: ").AppendLine(EscapeMd(r.ReliabilityProbability)).AppendLine();
        return sb.ToString();
    }

    /// <inheritdoc cref="Markdown(EvalResult, IReadOnlyList{ValueTuple{string, string}})"/>
    public static string Markdown(BenchmarkResult r, IReadOnlyList<(string File, string Title)> plots)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(plots);
        var sb = new StringBuilder();
        sb.AppendLine("# Model benchmark").AppendLine();
        sb.AppendLine(CorrelationLine(r.Correlation)).AppendLine();
        if (!r.Protocol.ReleasedHpsv3)
        {
            sb.AppendLine("> The scores do not come from the released HPSv3 checkpoint (see *model* below).").AppendLine();
        }

        AppendProtocolMd(sb, r.Protocol.Lines());
        var cats = r.Models.SelectMany(m => m.Categories.Select(c => c.Category)).Distinct().Order(StringComparer.Ordinal).ToArray();
        sb.Append("| Model | All | Human ref. | ").AppendJoin(" | ", cats.Select(EscapeMd)).AppendLine(" |");
        sb.Append("|---|---|---|").AppendJoin("", cats.Select(_ => "---|")).AppendLine();
        foreach (var m in r.Models)
        {
            sb.Append("| ").Append(EscapeMd(m.Model)).Append(" | ").Append(Num(m.Overall, 2)).Append(" | ").Append(Num(m.HumanReference, 2)).Append(" | ");
            sb.AppendJoin(" | ", cats.Select(c => Num(m.Categories.FirstOrDefault(x => x.Category == c)?.Mean, 2))).AppendLine(" |");
        }

        sb.AppendLine();
        foreach (var (file, title) in plots)
        {
            sb.Append("## ").AppendLine(title).AppendLine().Append("![").Append(title).Append("](").Append(file).AppendLine(")").AppendLine();
        }

        return sb.ToString();
    }

    /// <summary>One line with the three agreement numbers.</summary>
    public static string CorrelationLine(Correlation c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return $"Against the human reference ({c.Models.Count} models): Spearman ρ = {Num(c.Spearman)}, Kendall τ-b = {Num(c.KendallTauB)}, normalised MSE = {Num(c.NormalizedMse, 4)}" + (c.Note is null ? "" : $" ({c.Note})");
    }

    private static string Html(EvalResult r, IReadOnlyList<(string File, string Title, byte[] Png)> plots)
    {
        var body = new StringBuilder();
        body.Append("<h1>Preference evaluation — ").Append(Enc(Path.GetFileName(r.Protocol.Dataset))).AppendLine("</h1>");
        body.Append("<p class=\"headline\">").Append(Enc(Headline(r))).AppendLine("</p>");
        if (!r.Protocol.ReleasedHpsv3)
        {
            body.AppendLine("<p class=\"warn\">The scores do not come from the released HPSv3 checkpoint (see <em>model</em> below).</p>");
        }

        AppendProtocolHtml(body, r.Protocol.Lines());
        if (r.MeanItemAccuracy is not null)
        {
            body.Append("<p>Ranked items: ").Append(r.Items).Append("; mean of per-item accuracies: ").Append(Percent(r.MeanItemAccuracy)).AppendLine(".</p>");
        }

        AppendGroupsHtml(body, "By category", r.ByCategory);
        AppendGroupsHtml(body, "By model pair", r.ByModelPair);
        if (r.Monitors is { } monitors)
        {
            body.AppendLine("<h2>Reward-hacking monitors</h2>");
            body.Append("<p class=\"").Append(monitors["alerts"]!.AsArray().Count > 0 ? "alert" : "ok").Append("\">").Append(Enc(MonitorHeadline(monitors))).AppendLine("</p>");
            body.AppendLine("<table class=\"monitors\"><tr><th>Monitor</th><th>Value</th><th>Fires when</th><th>Fires</th></tr>");
            foreach (var (name, value, when, fires) in MonitorRows(monitors))
            {
                body.Append("<tr").Append(fires == true ? " class=\"fires\"" : "").Append("><td>").Append(Enc(name)).Append("</td><td>").Append(Enc(value)).Append("</td><td>").Append(Enc(when)).Append("</td><td>")
                    .Append(fires switch { true => "<strong>yes</strong>", false => "no", null => "—" }).AppendLine("</td></tr>");
            }

            body.AppendLine("</table>").Append("<p><small>").Append(Enc(MonitorScope(monitors))).AppendLine("</small></p>");
        }
        if (r.Problems.Count > 0)
        {
            body.AppendLine("<h2>Missing or failed images (first ones)</h2><ul>");
            foreach (var p in r.Problems)
            {
                body.Append("<li>").Append(Enc(p)).AppendLine("</li>");
            }

            body.AppendLine("</ul>");
        }

        AppendPlots(body, plots);
        body.Append("<p>Reliability curve: ").Append(Enc(r.ReliabilityProbability)).AppendLine("</p>");
        return Page("Preference evaluation", body.ToString());
    }

    private static string Html(BenchmarkResult r, IReadOnlyList<(string File, string Title, byte[] Png)> plots)
    {
        var body = new StringBuilder();
        body.AppendLine("<h1>Model benchmark</h1>");
        body.Append("<p class=\"headline\">").Append(Enc(CorrelationLine(r.Correlation))).AppendLine("</p>");
        if (!r.Protocol.ReleasedHpsv3)
        {
            body.AppendLine("<p class=\"warn\">The scores do not come from the released HPSv3 checkpoint (see <em>model</em> below).</p>");
        }

        AppendProtocolHtml(body, r.Protocol.Lines());
        var cats = r.Models.SelectMany(m => m.Categories.Select(c => c.Category)).Distinct().Order(StringComparer.Ordinal).ToArray();
        body.Append("<h2>Scores</h2><table><tr><th>Model</th><th>All</th><th>Human ref.</th>");
        foreach (var c in cats)
        {
            body.Append("<th>").Append(Enc(c)).Append("</th>");
        }

        body.AppendLine("</tr>");
        foreach (var m in r.Models)
        {
            body.Append("<tr><td>").Append(Enc(m.Model)).Append("</td><td>").Append(Num(m.Overall, 2)).Append("</td><td>").Append(Num(m.HumanReference, 2)).Append("</td>");
            foreach (var c in cats)
            {
                body.Append("<td>").Append(Num(m.Categories.FirstOrDefault(x => x.Category == c)?.Mean, 2)).Append("</td>");
            }

            body.AppendLine("</tr>");
        }

        body.AppendLine("</table>");
        AppendPlots(body, plots);
        return Page("Model benchmark", body.ToString());
    }

    /// <summary>One line: which reward-hacking monitors fire over the scored set.</summary>
    public static string MonitorHeadline(JsonObject monitors)
    {
        ArgumentNullException.ThrowIfNull(monitors);
        var alerts = monitors["alerts"]!.AsArray().Select(a => (string)a!).ToArray();
        return alerts.Length == 0 ? "No reward-hacking monitor fires." : $"Monitors firing: {string.Join(", ", alerts)}.";
    }

    /// <summary>
    /// The monitors of a <c>GET /v1/monitor</c>-shaped summary as (monitor, value, fires when, fires) rows; fires is
    /// null where the monitor has no alarm of its own (mean σ) or could not be computed.
    /// </summary>
    public static IReadOnlyList<(string Monitor, string Value, string When, bool? Fires)> MonitorRows(JsonObject m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var spread = m["spread"]!;
        var groups = m["groups"]!;
        var sat = m["saturated_share"]!;
        var trend = m["sigma_trend"]!;
        var drift = m["drift"];
        long withTwo = L(groups["with_two_or_more"]);
        var rows = new List<(string, string, string, bool?)>
        {
            ("per-prompt-group spread",
                withTwo == 0
                    ? "no prompt has two or more scored images"
                    : Inv($"mean std of μ within a prompt {Num(D(spread["mean_std"]), 4)} (min {Num(D(spread["min_std"]), 4)}) over {withTwo} of {L(groups["prompts"])} prompts; {L(spread["collapsed_groups"])} collapsed"),
                Inv($"≥ 50% of prompt groups have std < {Num(D(spread["collapse_std"]), 4)} (collapse toward one score)"),
                withTwo == 0 ? null : (bool)spread["alert"]!),
            ("saturated pixels",
                L(sat["images"]) == 0
                    ? "not measured (no image pixels could be read)"
                    : Inv($"{Percent(D(sat["mean"]))} of pixels on average over {L(sat["images"])} images"),
                Inv($"mean share > {Percent(D(sat["threshold"]))} (HSV saturation ≥ 0.8, value ≥ 0.25)"),
                L(sat["images"]) == 0 ? null : (bool)sat["alert"]!),
            ("mean σ", D(m["mean_sigma"]) is null ? "no σ (scores without log_sigma)" : Num(D(m["mean_sigma"]), 4), "(watched through its trend)", null),
            ("σ trend",
                D(trend["ratio"]) is null
                    ? "fewer than two scores with σ"
                    : Inv($"newer half / older half = {Num(D(trend["ratio"]))} (σ {Num(D(trend["older_half_mean"]), 4)} → {Num(D(trend["newer_half_mean"]), 4)}); slope {Num(D(trend["slope_per_1000"]), 4)} per 1000 images"),
                Inv($"ratio > {Num(D(trend["threshold_ratio"]), 2)} with ≥ 8 images per half (dataset order)"),
                D(trend["ratio"]) is null ? null : (bool)trend["alert"]!),
            drift is null
                ? ("drift against calibration", "not computed: no calibration was given", "z > 2 reference stds", null)
                : ("drift against calibration",
                    Inv($"mean μ {Num(D(drift["window_mean"]))} vs reference {Num(D(drift["reference_mean"]))} ± {Num(D(drift["reference_std"]))}: z = {Num(D(drift["z"]), 2)}; mean percentile {Num(D(drift["mean_percentile"]), 1)}"),
                    Inv($"z > {Num(D(drift["threshold_z"]), 2)} reference stds"),
                    (bool)drift["alert"]!),
        };
        return rows;
    }

    // The summary's numbers are ints or doubles as the computation created them: read both through their JSON text.
    private static double? D(JsonNode? n) => n is null ? null : double.Parse(n.ToJsonString(), CultureInfo.InvariantCulture);

    private static long L(JsonNode? n) => (long)(D(n) ?? 0);

    private static string MonitorScope(JsonObject m)
    {
        var w = m["window"]!;
        return Inv($"Over {L(w["items"])} scored images ({(string?)w["order"]}); {L(w["with_sigma"])} with σ, {L(w["with_pixels"])} with pixels measured")
            + ((string?)w["calibration"] is { } c ? $"; calibration {c}" : "")
            + ". The same monitors as the service's GET /v1/monitor.";
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static void AppendPlots(StringBuilder body, IReadOnlyList<(string File, string Title, byte[] Png)> plots)
    {
        foreach (var (_, title, png) in plots)
        {
            body.Append("<h2>").Append(Enc(title)).AppendLine("</h2>");
            body.Append("<img alt=\"").Append(Enc(title)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).AppendLine("\">");
        }
    }

    private static void AppendProtocolMd(StringBuilder sb, IReadOnlyList<(string Label, string Value)> lines)
    {
        sb.AppendLine("## Protocol").AppendLine().AppendLine("| | |").AppendLine("|---|---|");
        foreach (var (label, value) in lines)
        {
            sb.Append("| ").Append(EscapeMd(label)).Append(" | ").Append(EscapeMd(value)).AppendLine(" |");
        }

        sb.AppendLine();
    }

    private static void AppendProtocolHtml(StringBuilder body, IReadOnlyList<(string Label, string Value)> lines)
    {
        body.AppendLine("<h2>Protocol</h2><table class=\"protocol\">");
        foreach (var (label, value) in lines)
        {
            body.Append("<tr><th>").Append(Enc(label)).Append("</th><td>").Append(Enc(value)).AppendLine("</td></tr>");
        }

        body.AppendLine("</table>");
    }

    private static void AppendGroupsMd(StringBuilder sb, string title, IReadOnlyList<GroupAccuracy> groups)
    {
        if (groups.Count == 0)
        {
            return;
        }

        sb.Append("## ").AppendLine(title).AppendLine().AppendLine("| Group | Accuracy | Pairs | Correct | Predicted ties | Ground-truth ties |").AppendLine("|---|---|---|---|---|---|");
        foreach (var g in groups)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {EscapeMd(g.Name)} | {Percent(g.Accuracy)} | {g.Pairs} | {g.Correct} | {g.PredictedTies} | {g.TruthTies} |");
        }

        sb.AppendLine();
    }

    private static void AppendGroupsHtml(StringBuilder body, string title, IReadOnlyList<GroupAccuracy> groups)
    {
        if (groups.Count == 0)
        {
            return;
        }

        body.Append("<h2>").Append(Enc(title)).AppendLine("</h2><table><tr><th>Group</th><th>Accuracy</th><th>Pairs</th><th>Correct</th><th>Predicted ties</th><th>Ground-truth ties</th></tr>");
        foreach (var g in groups)
        {
            body.Append(CultureInfo.InvariantCulture, $"<tr><td>{Enc(g.Name)}</td><td>{Percent(g.Accuracy)}</td><td>{g.Pairs}</td><td>{g.Correct}</td><td>{g.PredictedTies}</td><td>{g.TruthTies}</td></tr>").AppendLine();
        }

        body.AppendLine("</table>");
    }

    private static string Page(string title, string body) => $$"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{{Enc(title)}} — HpsSharp</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
        th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; font-size: 14px; vertical-align: top; }
        table.protocol th { background: #f4f4f4; white-space: nowrap; }
        .headline { font-size: 1.2em; font-weight: 600; }
        .warn { background: #fff3cd; border: 1px solid #e0c36c; padding: 6px 10px; }
        .alert { background: #f8d7da; border: 1px solid #d9828b; padding: 6px 10px; font-weight: 600; }
        .ok { background: #e6f4ea; border: 1px solid #8cc09a; padding: 6px 10px; }
        tr.fires td { background: #fbe3e5; }
        img { max-width: 100%; border: 1px solid #eee; }
        </style></head><body>
        {{body}}
        <p><small>Generated by HpsSharp {{Enc(Evaluator.Version)}}.</small></p>
        </body></html>
        """;

    private static string Enc(string s) => WebUtility.HtmlEncode(s);

    private static string EscapeMd(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ");

    /// <summary>Writes <paramref name="bytes"/> to a temporary file beside <paramref name="path"/>, then renames it over.</summary>
    public static void AtomicWrite(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        string tmp = path + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
