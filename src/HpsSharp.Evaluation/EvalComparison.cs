using System.Globalization;
using System.Text.Json.Serialization;

namespace HpsSharp.Evaluation;

/// <summary>What every scorer of a comparison shares: the dataset and the counting rules.</summary>
public sealed record ComparisonProtocol
{
    [JsonPropertyName("dataset")] public required string Dataset { get; init; }
    [JsonPropertyName("format")] public required string Format { get; init; }
    [JsonPropertyName("split")] public required string Split { get; init; }
    [JsonPropertyName("dataset_sha256")] public required string DatasetSha256 { get; init; }
    [JsonPropertyName("records")] public required long Records { get; init; }
    [JsonPropertyName("metric")] public required string Metric { get; init; }
    [JsonPropertyName("metric_definition")] public required string MetricDefinition { get; init; }
    [JsonPropertyName("tie_policy")] public required string TiePolicy { get; init; }
    [JsonPropertyName("tie_policy_definition")] public required string TiePolicyDefinition { get; init; }
    [JsonPropertyName("ground_truth_ties")] public required string GroundTruthTies { get; init; }
    [JsonPropertyName("ground_truth_ties_definition")] public required string GroundTruthTiesDefinition { get; init; }
    [JsonPropertyName("bootstrap")] public required string Bootstrap { get; init; }
    [JsonPropertyName("images_root")] public string? ImagesRoot { get; init; }
    [JsonPropertyName("hpssharp_version")] public required string Version { get; init; }
    [JsonPropertyName("evaluated_utc")] public required string EvaluatedUtc { get; init; }

    /// <summary>The protocol as (label, value) lines for console, Markdown and HTML.</summary>
    public IReadOnlyList<(string Label, string Value)> Lines() =>
    [
        ("dataset", Dataset), ("format", Format), ("split", Split), ("dataset sha256", DatasetSha256),
        ("records", Records.ToString(CultureInfo.InvariantCulture)),
        ("metric", $"{Metric}: {MetricDefinition}"), ("tie policy", TiePolicyDefinition),
        ("ground-truth ties", GroundTruthTiesDefinition),
        ("images root", ImagesRoot ?? "(not used: images inside the dataset, or precomputed scores)"),
        ("95% interval", Bootstrap), ("HpsSharp", Version), ("evaluated (UTC)", EvaluatedUtc),
    ];
}

/// <summary>Where the reference numbers come from, and which of the paper's columns this dataset's format is.</summary>
public sealed record PaperReference
{
    [JsonPropertyName("source")] public required string Source { get; init; }

    /// <summary>The paper's column for this dataset's format; null for formats the paper has no column for.</summary>
    [JsonPropertyName("column")] public required string? Column { get; init; }
    [JsonPropertyName("note")] public required string Note { get; init; }
}

/// <summary>One scorer's line of a comparison: the headline numbers of its evaluation and the paper's number.</summary>
public sealed record ScorerAccuracy
{
    [JsonPropertyName("scorer")] public required string Scorer { get; init; }
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("scores")] public required string Scores { get; init; }
    [JsonPropertyName("dtype")] public required string Dtype { get; init; }
    [JsonPropertyName("preprocessing")] public required string Preprocessing { get; init; }
    [JsonPropertyName("accuracy")] public required double? Accuracy { get; init; }
    [JsonPropertyName("ci95")] public required double[]? Ci95 { get; init; }
    [JsonPropertyName("pairs")] public required long Pairs { get; init; }
    [JsonPropertyName("correct")] public required long Correct { get; init; }
    [JsonPropertyName("wrong")] public required long Wrong { get; init; }
    [JsonPropertyName("predicted_ties")] public required long PredictedTies { get; init; }
    [JsonPropertyName("ground_truth_ties")] public required long TruthTies { get; init; }
    [JsonPropertyName("scored_pairs")] public required long ScoredPairs { get; init; }
    [JsonPropertyName("missing_images")] public required long MissingImages { get; init; }
    [JsonPropertyName("failed_images")] public required long FailedImages { get; init; }
    [JsonPropertyName("skipped_pairs")] public required long SkippedPairs { get; init; }
    [JsonPropertyName("scored_images")] public required long ScoredImages { get; init; }
    [JsonPropertyName("cache_hits")] public required long CacheHits { get; init; }
    [JsonPropertyName("mean_item_accuracy")] public double? MeanItemAccuracy { get; init; }

    /// <summary>The paper's accuracy (a fraction) for this scorer on this dataset's column; null where it gives none.</summary>
    [JsonPropertyName("paper_accuracy")] public required double? PaperAccuracy { get; init; }

    /// <summary>The paper's row used, or null.</summary>
    [JsonPropertyName("paper_row")] public required string? PaperRow { get; init; }

    /// <summary>Why there is no paper number, or null when there is one.</summary>
    [JsonPropertyName("paper_note")] public required string? PaperNote { get; init; }
}

/// <summary>
/// Several scorers evaluated on one dataset under one protocol (<c>hps eval --scorers a,b,c</c>): a table of
/// accuracy with 95% intervals, pair counts and the paper's reference number per scorer, plus each full result.
/// </summary>
public sealed record EvalComparison
{
    [JsonPropertyName("protocol")] public required ComparisonProtocol Protocol { get; init; }
    [JsonPropertyName("paper")] public required PaperReference Paper { get; init; }
    [JsonPropertyName("scorers")] public required IReadOnlyList<ScorerAccuracy> Scorers { get; init; }

    /// <summary>True when every scorer counted the same pairs (no scorer missed an image the others scored).</summary>
    [JsonPropertyName("same_pairs")] public required bool SamePairs { get; init; }

    /// <summary>Each scorer's full evaluation (the shape of <c>hps eval --json</c>), in the order of <see cref="Scorers"/>.</summary>
    [JsonPropertyName("results")] public required IReadOnlyList<EvalResult> Results { get; init; }

    /// <summary>
    /// Puts per-scorer results of one dataset side by side. They must come from one dataset and one protocol (same
    /// dataset SHA-256, metric, tie policies and interval method); otherwise the table would compare unlike numbers.
    /// </summary>
    /// <exception cref="ArgumentException">No results, a scorer named twice, or the results disagree on the dataset or protocol.</exception>
    public static EvalComparison From(IReadOnlyList<(string Scorer, EvalResult Result)> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (results.Count == 0)
        {
            throw new ArgumentException("a comparison needs at least one scorer's result", nameof(results));
        }

        var first = results[0].Result.Protocol;
        foreach (var (scorer, r) in results)
        {
            var p = r.Protocol;
            if (p.DatasetSha256 != first.DatasetSha256 || p.Metric != first.Metric || p.TiePolicy != first.TiePolicy
                || p.GroundTruthTies != first.GroundTruthTies || p.Bootstrap != first.Bootstrap || p.Records != first.Records)
            {
                throw new ArgumentException($"{scorer}: evaluated on another dataset or under another protocol than {results[0].Scorer}; a comparison needs one dataset and one protocol", nameof(results));
            }
        }

        var dup = results.GroupBy(x => x.Scorer, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ArgumentException($"scorer '{dup.Key}' is listed twice", nameof(results));
        }

        var format = EvalDataset.ParseFormat(first.Format);
        string? column = PaperAccuracy.ColumnFor(format);
        var rows = results.Select(x =>
        {
            var (row, why) = PaperAccuracy.RowFor(x.Scorer);
            double? paper = PaperAccuracy.Lookup(row, column);
            var r = x.Result;
            return new ScorerAccuracy
            {
                Scorer = x.Scorer,
                Model = r.Protocol.Model,
                Scores = r.Protocol.Scores,
                Dtype = r.Protocol.Dtype,
                Preprocessing = r.Protocol.Preprocessing,
                Accuracy = r.Accuracy,
                Ci95 = r.Ci95,
                Pairs = r.Pairs,
                Correct = r.Correct,
                Wrong = r.Wrong,
                PredictedTies = r.PredictedTies,
                TruthTies = r.TruthTies,
                ScoredPairs = r.ScoredPairs,
                MissingImages = r.Protocol.MissingImages,
                FailedImages = r.Protocol.FailedImages,
                SkippedPairs = r.Protocol.SkippedPairs,
                ScoredImages = r.ScoredImages,
                CacheHits = r.CacheHits,
                MeanItemAccuracy = r.MeanItemAccuracy,
                PaperAccuracy = paper,
                PaperRow = paper is null ? null : row,
                PaperNote = paper is not null ? null : column is null ? $"the paper has no column for the {first.Format} format" : why,
            };
        }).ToList();

        return new EvalComparison
        {
            Protocol = new ComparisonProtocol
            {
                Dataset = first.Dataset,
                Format = first.Format,
                Split = first.Split,
                DatasetSha256 = first.DatasetSha256,
                Records = first.Records,
                Metric = first.Metric,
                MetricDefinition = first.MetricDefinition,
                TiePolicy = first.TiePolicy,
                TiePolicyDefinition = first.TiePolicyDefinition,
                GroundTruthTies = first.GroundTruthTies,
                GroundTruthTiesDefinition = first.GroundTruthTiesDefinition,
                Bootstrap = first.Bootstrap,
                ImagesRoot = first.ImagesRoot,
                Version = first.Version,
                EvaluatedUtc = results.Max(x => x.Result.Protocol.EvaluatedUtc)!,
            },
            Paper = new PaperReference
            {
                Source = PaperAccuracy.Source,
                Column = column,
                Note = column is null
                    ? $"The paper reports no {first.Format} dataset; no reference numbers"
                    : $"The paper's numbers are for its own {column} test set, with its protocol (the HPDv2 and Pick-a-Pic pair construction and ties are not published); they compare with this run only when this dataset is that test set",
            },
            Scorers = rows,
            SamePairs = rows.All(r => r.ScoredPairs == rows[0].ScoredPairs && r.SkippedPairs == 0),
            Results = results.Select(x => x.Result).ToList(),
        };
    }
}
