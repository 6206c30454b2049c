using System.Globalization;
using System.Net;
using System.Text;

namespace HpsSharp.Cohp;

/// <summary>
/// The run's page (<c>index.html</c>): the stage-one grid with every image's μ and σ and each generator's mean,
/// the start image, then each round's candidates with the kept one marked, and the final image. Self-contained
/// (inline CSS, images by relative path), so the folder can be copied or served as is.
/// </summary>
public static class CohpHtml
{
    public static string Render(CohpRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var sb = new StringBuilder();
        sb.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>CoHP run</title>
            <style>
            body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;background:#fafafa;color:#222}
            h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
            .prompt{font-size:16px;margin:4px 0 12px;color:#333} .meta{color:#666;font-size:13px}
            .row{display:flex;gap:12px;flex-wrap:wrap;align-items:flex-start;margin:8px 0}
            .gen{border:2px solid #ddd;border-radius:8px;padding:8px;background:#fff}
            .gen.chosen{border-color:#2e7d32;background:#f1f8e9} .gen.failed{border-color:#c62828;background:#ffebee}
            .gen h3{margin:0 0 6px;font-size:15px}
            figure{margin:0;border:3px solid transparent;border-radius:6px;padding:3px;background:#fff;text-align:center}
            figure img{width:180px;height:180px;object-fit:contain;display:block;background:#eee}
            figure.kept{border-color:#2e7d32} figure.best{border-color:#f9a825} figure.start{border-color:#1565c0}
            figcaption{font-size:12px;margin-top:4px;line-height:1.35}
            .badge{display:inline-block;padding:1px 6px;border-radius:9px;font-size:11px;color:#fff;margin-left:4px}
            .b-kept{background:#2e7d32} .b-best{background:#f9a825;color:#222} .b-start{background:#1565c0} .b-chosen{background:#2e7d32}
            .err{color:#c62828;font-size:13px;max-width:760px} .round-head{font-size:14px;color:#333}
            </style></head><body>

            """);
        sb.Append("<h1>Chain-of-Human-Preference</h1>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"prompt\">“{H(run.Prompt)}”</div>\n");
        var s = run.Settings;
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"meta\">status <b>{H(run.Status)}</b>{(run.Stopped is null ? string.Empty : $" (stopped: {H(run.Stopped)})")} · seed {s.Seed} · {s.ImagesPerGenerator} image(s) per generator · {s.Rounds} round(s) × {s.CandidatesPerRound} candidate(s) · strengths {string.Join(", ", s.Strengths.Select(F))} · threshold {F(s.Threshold)}{(s.StartCompetes ? " · start competes" : string.Empty)}{(s.EarlyStop ? " · early stop" : string.Empty)}</div>\n");
        if (run.Model is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"meta\">scorer: {H(run.Model.Scorer)} · {H(run.Model.Name)} [{H(run.Model.Dtype)}]{(run.Model.Scorer != "hpsv3" || run.Model.ReleasedHpsv3 || run.Model.Name.Contains("released HPSv3", StringComparison.OrdinalIgnoreCase) ? string.Empty : " — not the released HPSv3")}</div>\n");
        }

        if (run.Error is not null)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<p class=\"err\">{H(run.Error)}</p>\n");
        }

        sb.Append("<h2>Stage 1 — model-wise preference</h2>\n<div class=\"row\">\n");
        foreach (var e in run.ModelStage)
        {
            bool chosen = e.Generator == run.ChosenGenerator;
            string cls = e.Error is not null ? "gen failed" : chosen ? "gen chosen" : "gen";
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"{cls}\"><h3>{H(e.Generator)}{(chosen ? "<span class=\"badge b-chosen\">chosen</span>" : string.Empty)}</h3>");
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"meta\">mean μ {(e.MeanMu is double m ? F(m) : "—")}</div><div class=\"row\">");
            foreach (var img in e.Images)
            {
                bool isStart = run.Start?.File == img.File;
                Figure(sb, img, isStart ? "start" : null, isStart ? "<span class=\"badge b-start\">start</span>" : string.Empty);
            }

            sb.Append("</div>");
            if (e.Error is not null)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<div class=\"err\">{H(e.Error)}</div>");
            }

            sb.Append("</div>\n");
        }

        sb.Append("</div>\n");
        if (run.Rounds.Count > 0)
        {
            sb.Append("<h2>Stage 2 — sample-wise preference</h2>\n");
        }

        foreach (var r in run.Rounds)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"round-head\"><b>Round {r.Round}</b> · strength {F(r.Strength)} · source <code>{H(r.Source)}</code> · to beat: μ &gt; {F(r.Bar)} · ");
            sb.Append(r.Kept is not null ? $"kept <code>{H(r.Kept)}</code>" : r.Error is not null ? "failed" : "nothing kept");
            sb.Append("</div>\n<div class=\"row\">");
            foreach (var c in r.Candidates)
            {
                if (c.File == r.Kept)
                {
                    Figure(sb, c, "kept", "<span class=\"badge b-kept\">kept</span>");
                }
                else if (c.File == r.Best)
                {
                    Figure(sb, c, "best", "<span class=\"badge b-best\">round best</span>");
                }
                else
                {
                    Figure(sb, c, null, string.Empty);
                }
            }

            sb.Append("</div>\n");
            if (r.Error is not null)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<div class=\"err\">{H(r.Error)}</div>\n");
            }
        }

        if (run.Final is not null)
        {
            sb.Append("<h2>Result</h2>\n<div class=\"row\">");
            sb.Append(CultureInfo.InvariantCulture, $"<figure class=\"kept\"><a href=\"{H(run.Final.File)}\"><img src=\"{H(run.Final.File)}\" alt=\"final\"></a><figcaption><b>final</b> μ {F(run.Final.Mu)}<br><code>{H(run.Final.File)}</code></figcaption></figure>");
            if (run.Start is not null)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<figure class=\"start\"><a href=\"{H(run.Start.File)}\"><img src=\"{H(run.Start.File)}\" alt=\"start\"></a><figcaption><b>start</b> μ {F(run.Start.Mu)}<br>{H(run.ChosenGenerator ?? string.Empty)}</figcaption></figure>");
            }

            sb.Append("</div>\n");
            if (run.Start is not null && run.Start.Mu > run.Final.Mu)
            {
                sb.Append("<div class=\"meta\">The start image scores higher than the final one: as in the upstream code, the model-stage score does not compete with the refinement rounds (a run with start_competes set, as run.json records it, lets it).</div>\n");
            }
        }

        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private static void Figure(StringBuilder sb, ImageRecord img, string? cls, string badge)
    {
        string score = img.Mu is double mu
            ? $"μ {F(mu)} · σ {(img.Sigma is double sg ? F(sg) : "—")}"
            : img.Error is not null ? "<span class=\"err\">not scored</span>" : "not scored yet";
        sb.Append(CultureInfo.InvariantCulture, $"<figure{(cls is null ? string.Empty : $" class=\"{cls}\"")}><a href=\"{H(img.File)}\"><img src=\"{H(img.File)}\" alt=\"{H(img.File)}\" loading=\"lazy\"></a>");
        sb.Append(CultureInfo.InvariantCulture, $"<figcaption>{score}{badge}<br>seed {img.Seed}</figcaption></figure>");
    }

    private static string H(string s) => WebUtility.HtmlEncode(s);

    private static string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
}
