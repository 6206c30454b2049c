using System.Globalization;

namespace HpsSharp.Evaluation;

/// <summary>
/// The HPSv3 paper's preference-accuracy table (docs/evaluation.md, "The paper's accuracy table"), kept as published
/// so reports can print it beside measured numbers. A test checks this table against the document, so the two
/// cannot drift apart.
/// </summary>
public static class PaperAccuracy
{
    /// <summary>Where the numbers come from, as printed in reports.</summary>
    public const string Source = "HPSv3 paper (Ma et al., 2025), preference-accuracy table; docs/evaluation.md";

    /// <summary>The table's columns (datasets), in the paper's order.</summary>
    public static IReadOnlyList<string> Columns { get; } = ["ImageReward", "Pick-a-Pic", "HPDv2", "HPDv3"];

    /// <summary>The table's rows: model name → accuracy in percent per column, in the paper's order.</summary>
    public static IReadOnlyList<(string Model, double[] Percent)> Rows { get; } =
    [
        ("CLIP ViT-H/14", [57.1, 60.8, 65.1, 48.6]),
        ("Aesthetic predictor", [57.4, 56.8, 76.8, 59.9]),
        ("ImageReward", [65.1, 61.1, 74.0, 58.6]),
        ("PickScore", [61.6, 70.5, 79.8, 65.6]),
        ("HPS", [61.2, 66.7, 77.6, 63.8]),
        ("HPSv2", [65.7, 63.8, 83.3, 65.3]),
        ("MPS", [67.5, 63.1, 83.5, 64.3]),
        ("HPSv3", [66.8, 72.8, 85.4, 76.9]),
    ];

    /// <summary>
    /// The paper's row for a registry scorer, or null with the reason. <c>hpsv2</c> is the paper's HPSv2 row: its
    /// ImageReward and HPDv2 numbers (65.7, 83.3) are the ones the HPSv2 authors publish for v2.0 (v2.1: 66.8, 84.1),
    /// so <c>hpsv2.1</c> has no row. <c>clipscore</c> is CLIP ViT-L/14; the paper's CLIP row is ViT-H/14, another model.
    /// </summary>
    public static (string? Row, string? Why) RowFor(string scorer)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        return scorer.ToLowerInvariant() switch
        {
            "hpsv3" => ("HPSv3", null),
            "pickscore" => ("PickScore", null),
            "hpsv2" => ("HPSv2", null),
            "imagereward" => ("ImageReward", null),
            "aesthetic" => ("Aesthetic predictor", null),
            "hpsv2.1" => (null, "the paper's HPSv2 row is v2.0 (65.7/83.3 are v2.0's published numbers)"),
            "clipscore" => (null, "the paper's CLIP row is ViT-H/14, clipscore is ViT-L/14"),
            _ => (null, "not in the paper's table"),
        };
    }

    /// <summary>The paper's column for a dataset format, or null (JSONL is not one of the paper's test sets).</summary>
    public static string? ColumnFor(DatasetFormat format) => format switch
    {
        DatasetFormat.ImageReward => "ImageReward",
        DatasetFormat.Pickapic => "Pick-a-Pic",
        DatasetFormat.Hpdv2 => "HPDv2",
        DatasetFormat.Hpdv3 => "HPDv3",
        _ => null,
    };

    /// <summary>The paper's accuracy (a fraction) for a row and column, or null where the table has none.</summary>
    public static double? Lookup(string? row, string? column)
    {
        if (row is null || column is null)
        {
            return null;
        }

        int c = Columns.ToList().IndexOf(column);
        var r = Rows.FirstOrDefault(x => x.Model == row);
        return c < 0 || r.Percent is null ? null : Math.Round(r.Percent[c] / 100, 4);
    }

    /// <summary>A percentage as the paper prints it (one decimal).</summary>
    public static string Format(double? fraction) => fraction is { } f ? (f * 100).ToString("F1", CultureInfo.InvariantCulture) + "%" : "—";
}
