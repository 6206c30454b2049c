using HpsSharp.Core.Scoring.Contracts;
using ScottPlot;

namespace HpsSharp.Evaluation;

/// <summary>PNG plots for the reports (ScottPlot, rendered off-screen).</summary>
public static class Plots
{
    private const int Width = 800;
    private const int Height = 450;
    private const string FontName = "HpsSharp Sans";

    private static readonly Lazy<string?> FontFile = new(RegisterFont);

    /// <summary>
    /// The TrueType file used for plot text, or null when none was found. The bundled SkiaSharp build has no
    /// fontconfig, so system fonts are not found by name: a file is registered explicitly — <c>HPS_PLOT_FONT</c>,
    /// else DejaVu Sans or Liberation Sans from /usr/share/fonts. Without one, plots render without text.
    /// </summary>
    public static string? Font => FontFile.Value;

    private static string? RegisterFont()
    {
        var candidates = new List<string>();
        var env = Environment.GetEnvironmentVariable("HPS_PLOT_FONT");
        if (!string.IsNullOrEmpty(env))
        {
            candidates.Add(env);
        }

        candidates.AddRange([
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
            "/System/Library/Fonts/Supplemental/Arial.ttf",
            @"C:\Windows\Fonts\arial.ttf",
        ]);
        var file = candidates.FirstOrDefault(File.Exists);
        if (file is null)
        {
            return null;
        }

        Fonts.AddFontFile(FontName, file, bold: false, italic: false);
        var boldFile = file.Replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", StringComparison.Ordinal).Replace("LiberationSans-Regular", "LiberationSans-Bold", StringComparison.Ordinal);
        Fonts.AddFontFile(FontName, File.Exists(boldFile) ? boldFile : file, bold: true, italic: false);
        Fonts.Default = FontName;
        return file;
    }

    private static Plot NewPlot()
    {
        var plot = new Plot();
        if (Font is not null)
        {
            plot.Font.Set(FontName);
        }

        return plot;
    }

    /// <summary>Histogram of μ per model (or one "all" series), overlaid.</summary>
    public static byte[] ScoreDistribution(IReadOnlyDictionary<string, double[]> samples, string title = "Score distribution (μ)")
    {
        ArgumentNullException.ThrowIfNull(samples);
        var plot = NewPlot();
        var all = samples.Values.SelectMany(v => v).ToArray();
        if (all.Length > 0)
        {
            double min = all.Min(), max = all.Max();
            if (max == min)
            {
                max = min + 1;
            }

            int bins = 30;
            double width = (max - min) / bins;
            var palette = new ScottPlot.Palettes.Category10();
            int k = 0;
            foreach (var (name, values) in samples.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var counts = new double[bins];
                foreach (var v in values)
                {
                    counts[Math.Clamp((int)((v - min) / width), 0, bins - 1)] += 1.0 / values.Length;
                }

                // StepHorizontal draws each value from its x to the next x: give left bin edges and close the last bin.
                var xs = Enumerable.Range(0, bins + 1).Select(i => min + (i * width)).ToArray();
                var ys = counts.Append(counts[^1]).ToArray();
                var line = plot.Add.ScatterLine(xs, ys);
                line.LegendText = $"{name} (n={values.Length})";
                line.Color = palette.GetColor(k++);
                line.LineWidth = 2;
                line.ConnectStyle = ConnectStyle.StepHorizontal;
            }

            plot.ShowLegend(Alignment.UpperLeft);
        }

        plot.Title(title);
        plot.XLabel("μ");
        plot.YLabel("fraction of images");
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>Horizontal bars of accuracy per group (category or model pair), with the overall accuracy as a line.</summary>
    public static byte[] AccuracyBars(IReadOnlyList<GroupAccuracy> groups, double overall, string title)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var plot = NewPlot();
        var shown = groups.Where(g => g.Accuracy is not null).ToArray();
        for (int i = 0; i < shown.Length; i++)
        {
            var bar = new Bar { Position = i, Value = shown[i].Accuracy!.Value * 100, FillColor = Colors.SteelBlue, Orientation = Orientation.Horizontal };
            plot.Add.Bar(bar);
        }

        plot.Axes.Left.SetTicks(Enumerable.Range(0, shown.Length).Select(i => (double)i).ToArray(), shown.Select(g => $"{g.Name} ({g.Pairs})").ToArray());
        var v = plot.Add.VerticalLine(overall * 100);
        v.LegendText = $"overall {overall * 100:F1}%";
        v.Color = Colors.OrangeRed;
        plot.ShowLegend(Alignment.LowerRight);
        plot.Axes.SetLimitsX(0, 100);
        plot.Title(title);
        plot.XLabel("accuracy (%)");
        return plot.GetImageBytes(Width, Math.Max(Height, 60 + (28 * shown.Length)), ImageFormat.Png);
    }

    /// <summary>Reliability curve: mean predicted P(A≻B) per bin against the observed agreement, with the diagonal.</summary>
    public static byte[] Reliability(IReadOnlyList<ReliabilityBin> bins)
    {
        ArgumentNullException.ThrowIfNull(bins);
        var plot = NewPlot();
        var diag = plot.Add.ScatterLine(new double[] { 0, 1 }, new double[] { 0, 1 });
        diag.Color = Colors.Gray;
        diag.LinePattern = LinePattern.Dashed;
        diag.LegendText = "perfect calibration";
        var used = bins.Where(b => b.Count > 0).ToArray();
        if (used.Length > 0)
        {
            var s = plot.Add.Scatter(used.Select(b => b.MeanPredicted!.Value).ToArray(), used.Select(b => b.Observed!.Value).ToArray());
            s.LegendText = "model";
            s.Color = Colors.SteelBlue;
            s.LineWidth = 2;
            s.MarkerSize = 8;
        }

        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Title("Reliability: predicted P(A≻B) vs observed agreement");
        plot.XLabel("predicted P(A≻B)");

        plot.YLabel("observed fraction where humans prefer A");
        return plot.GetImageBytes(Height + 100, Height + 100, ImageFormat.Png);
    }

    /// <summary>Overall benchmark score per model against the human reference (matched models only).</summary>
    public static byte[] BenchmarkScatter(IReadOnlyList<ModelBenchmark> models, string title)
    {
        ArgumentNullException.ThrowIfNull(models);
        var plot = NewPlot();
        foreach (var m in models.Where(m => m.HumanReference is not null))
        {
            var p = plot.Add.Marker(m.HumanReference!.Value, m.Overall);
            p.Color = Colors.SteelBlue;
            p.Size = 10;
            var t = plot.Add.Text(m.Model, m.HumanReference!.Value, m.Overall);
            t.LabelFontSize = 12;
            t.OffsetX = 6;
        }

        plot.Title(title);
        plot.XLabel("human reference score");
        plot.YLabel("overall mean μ (mean of category means)");
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>Bars of each model's overall score.</summary>
    public static byte[] BenchmarkBars(IReadOnlyList<ModelBenchmark> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        var plot = NewPlot();
        for (int i = 0; i < models.Count; i++)
        {
            plot.Add.Bar(new Bar { Position = i, Value = models[i].Overall, FillColor = Colors.SteelBlue });
        }

        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, models.Count).Select(i => (double)i).ToArray(), models.Select(m => m.Model).ToArray());
        plot.Title("Overall score per model (mean of category means)");
        plot.YLabel("μ");
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>
    /// Accuracy per scorer of a comparison: a bar each, its 95% interval as a black line, and the paper's number
    /// (where it gives one) as a red diamond.
    /// </summary>
    public static byte[] ScorerAccuracy(EvalComparison comparison)
    {
        ArgumentNullException.ThrowIfNull(comparison);
        var plot = NewPlot();
        var rows = comparison.Scorers;
        bool paperShown = false, ciShown = false;
        for (int i = 0; i < rows.Count; i++)
        {
            var s = rows[i];
            plot.Add.Bar(new Bar { Position = i, Value = (s.Accuracy ?? 0) * 100, FillColor = Colors.SteelBlue });
            if (s.Ci95 is { } ci)
            {
                var line = plot.Add.Line(i, ci[0] * 100, i, ci[1] * 100);
                line.Color = Colors.Black;
                line.LineWidth = 2;
                if (!ciShown)
                {
                    line.LegendText = "95% interval";
                    ciShown = true;
                }
            }

            if (s.PaperAccuracy is { } paper)
            {
                var m = plot.Add.Marker(i, paper * 100);
                m.Color = Colors.OrangeRed;
                m.Size = 12;
                m.Shape = MarkerShape.FilledDiamond;
                if (!paperShown)
                {
                    m.LegendText = $"paper ({comparison.Paper.Column})";
                    paperShown = true;
                }
            }
        }

        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(), rows.Select(s => $"{s.Scorer} ({s.Pairs})").ToArray());
        plot.Axes.SetLimitsY(0, 100);
        if (paperShown || ciShown)
        {
            plot.ShowLegend(Alignment.LowerRight);
        }

        plot.Title($"{comparison.Protocol.Metric} per scorer, 95% interval ({comparison.Protocol.TiePolicy} ties)");
        plot.YLabel("accuracy (%)");
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }
}
