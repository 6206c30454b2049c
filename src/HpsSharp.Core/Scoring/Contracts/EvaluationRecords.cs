using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace HpsSharp.Core.Scoring.Contracts;

/// <summary>
/// The dataset and counting rules of an evaluation (<c>hps eval</c>): what every scorer of a comparison shares. An
/// evaluation's own <see cref="EvalProtocol"/> adds the scorer and its image counts. Printed with every result
/// (PRODUCT.md, honesty rules).
/// </summary>
/// <remarks>
/// The JSON keeps <see cref="EvalProtocol"/>'s historical key order, which interleaves these fields with the scorer's:
/// hence the explicit <see cref="JsonPropertyOrderAttribute"/> on every field of both records.
/// </remarks>
public record DatasetProtocol
{
    [JsonPropertyName("dataset"), JsonPropertyOrder(1)] public required string Dataset { get; init; }
    [JsonPropertyName("format"), JsonPropertyOrder(2)] public required string Format { get; init; }
    [JsonPropertyName("split"), JsonPropertyOrder(3)] public required string Split { get; init; }
    [JsonPropertyName("dataset_sha256"), JsonPropertyOrder(4)] public required string DatasetSha256 { get; init; }
    [JsonPropertyName("records"), JsonPropertyOrder(5)] public required long Records { get; init; }
    [JsonPropertyName("metric"), JsonPropertyOrder(6)] public required string Metric { get; init; }
    [JsonPropertyName("metric_definition"), JsonPropertyOrder(7)] public required string MetricDefinition { get; init; }
    [JsonPropertyName("tie_policy"), JsonPropertyOrder(8)] public required string TiePolicy { get; init; }
    [JsonPropertyName("tie_policy_definition"), JsonPropertyOrder(9)] public required string TiePolicyDefinition { get; init; }
    [JsonPropertyName("ground_truth_ties"), JsonPropertyOrder(10)] public required string GroundTruthTies { get; init; }
    [JsonPropertyName("ground_truth_ties_definition"), JsonPropertyOrder(11)] public required string GroundTruthTiesDefinition { get; init; }
    [JsonPropertyName("images_root"), JsonPropertyOrder(18)] public string? ImagesRoot { get; init; }
    [JsonPropertyName("bootstrap"), JsonPropertyOrder(22)] public required string Bootstrap { get; init; }
    [JsonPropertyName("hpssharp_version"), JsonPropertyOrder(23)] public required string Version { get; init; }
    [JsonPropertyName("evaluated_utc"), JsonPropertyOrder(24)] public required string EvaluatedUtc { get; init; }

    /// <summary>Only the dataset and counting rules of <paramref name="protocol"/> (an <see cref="EvalProtocol"/> loses its scorer part).</summary>
    public static DatasetProtocol RulesOf(DatasetProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return new DatasetProtocol(protocol);
    }
}

/// <summary>
/// Which scorer produced the numbers of an evaluation or a benchmark, as their protocols print it (flat fields:
/// <c>scores</c>, <c>model</c>, <c>released_hpsv3</c>, <c>dtype</c>, <c>preprocessing</c>, <c>deterministic</c>).
/// </summary>
public sealed record ScorerDescription
{
    /// <summary>Where the scores come from (a model, a cache, a scores file).</summary>
    public required string Scores { get; init; }

    /// <summary>The model's one-line description (<see cref="ModelInfo.Describe"/>).</summary>
    public required string Model { get; init; }

    /// <summary>True only for the released HPSv3 checkpoint.</summary>
    public required bool ReleasedHpsv3 { get; init; }

    /// <summary><c>bf16</c>, <c>fp32</c> or <c>unknown</c>.</summary>
    public required string Dtype { get; init; }

    /// <summary>The image preprocessing (HPSv3's pixel budget, or the scorer's own transform).</summary>
    public required string Preprocessing { get; init; }

    /// <summary>Whether every forward held one item; null for precomputed scores.</summary>
    public bool? Deterministic { get; init; }

    /// <summary>The description of <paramref name="model"/> (null: precomputed scores without model information).</summary>
    public static ScorerDescription Of(ModelInfo? model, string scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        return new()
        {
            Scores = scores,
            Model = model?.Describe() ?? "unknown (scores file without model information)",
            ReleasedHpsv3 = model?.IsReleasedHpsv3 ?? false,
            Dtype = model?.Dtype ?? "unknown",
            Preprocessing = model is { Scorer: not "hpsv3" }
                ? $"{model.Scorer}: the original scorer's own resize, crop and normalisation"
                : model is null || model.MaxPixels == 0
                ? "unknown (scores file)"
                : string.Create(CultureInfo.InvariantCulture, $"min_pixels={model.MinPixels}, max_pixels={model.MaxPixels} (Qwen2-VL smart resize, HPSv3 fixed budget)"),
            Deterministic = model?.Deterministic,
        };
    }
}

/// <summary>Everything needed to reproduce an evaluation's number: the dataset and counting rules, the scorer, the image counts.</summary>
public sealed record EvalProtocol : DatasetProtocol
{
    /// <summary>The scorer; written as the flat fields below.</summary>
    /// <remarks>A field: System.Text.Json refuses a required property that it ignores.</remarks>
    [JsonIgnore] public required ScorerDescription Scorer;
    [JsonPropertyName("scores"), JsonPropertyOrder(12)] public string Scores => Scorer.Scores;
    [JsonPropertyName("model"), JsonPropertyOrder(13)] public string Model => Scorer.Model;
    [JsonPropertyName("released_hpsv3"), JsonPropertyOrder(14)] public bool ReleasedHpsv3 => Scorer.ReleasedHpsv3;
    [JsonPropertyName("dtype"), JsonPropertyOrder(15)] public string Dtype => Scorer.Dtype;
    [JsonPropertyName("preprocessing"), JsonPropertyOrder(16)] public string Preprocessing => Scorer.Preprocessing;
    [JsonPropertyName("deterministic"), JsonPropertyOrder(17)] public bool? Deterministic => Scorer.Deterministic;
    [JsonPropertyName("missing_images"), JsonPropertyOrder(19)] public required long MissingImages { get; init; }
    [JsonPropertyName("failed_images"), JsonPropertyOrder(20)] public required long FailedImages { get; init; }
    [JsonPropertyName("skipped_pairs"), JsonPropertyOrder(21)] public required long SkippedPairs { get; init; }
}

/// <summary>Accuracy of one group (a model pair or a category).</summary>
public sealed record GroupAccuracy(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("accuracy")] double? Accuracy,
    [property: JsonPropertyName("pairs")] long Pairs,
    [property: JsonPropertyName("correct")] long Correct,
    [property: JsonPropertyName("predicted_ties")] long PredictedTies,
    [property: JsonPropertyName("ground_truth_ties")] long TruthTies);

/// <summary>One bin of the reliability curve: predicted P(A≻B) against how often humans agreed.</summary>
public sealed record ReliabilityBin(
    [property: JsonPropertyName("lower")] double Lower,
    [property: JsonPropertyName("upper")] double Upper,
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("mean_predicted")] double? MeanPredicted,
    [property: JsonPropertyName("observed")] double? Observed);

/// <summary>The result of <c>hps eval</c> (the JSON shape of PRODUCT.md: protocol, metric, accuracy, pairs, correct, predicted_ties, ci95, ...).</summary>
public sealed record EvalResult
{
    [JsonPropertyName("protocol")] public required EvalProtocol Protocol { get; init; }
    [JsonPropertyName("metric")] public required string Metric { get; init; }
    [JsonPropertyName("accuracy")] public required double? Accuracy { get; init; }

    /// <summary>Pairs counted in the accuracy's denominator (after the tie policies).</summary>
    [JsonPropertyName("pairs")] public required long Pairs { get; init; }
    [JsonPropertyName("correct")] public required long Correct { get; init; }
    [JsonPropertyName("wrong")] public required long Wrong { get; init; }
    [JsonPropertyName("predicted_ties")] public required long PredictedTies { get; init; }
    [JsonPropertyName("ground_truth_ties")] public required long TruthTies { get; init; }

    /// <summary>Judged pairs whose two images both had scores (before tie policies).</summary>
    [JsonPropertyName("scored_pairs")] public required long ScoredPairs { get; init; }
    [JsonPropertyName("ci95")] public required double[]? Ci95 { get; init; }

    /// <summary>Ranking metric only: number of items and the mean of per-item accuracies (HPSv2's reporting style).</summary>
    [JsonPropertyName("items")] public long? Items { get; init; }
    [JsonPropertyName("mean_item_accuracy")] public double? MeanItemAccuracy { get; init; }
    [JsonPropertyName("by_model_pair")] public required IReadOnlyList<GroupAccuracy> ByModelPair { get; init; }
    [JsonPropertyName("by_category")] public required IReadOnlyList<GroupAccuracy> ByCategory { get; init; }
    [JsonPropertyName("reliability")] public required IReadOnlyList<ReliabilityBin> Reliability { get; init; }

    /// <summary>How P(A≻B) in the reliability curve was computed.</summary>
    [JsonPropertyName("reliability_probability")] public required string ReliabilityProbability { get; init; }
    [JsonPropertyName("scored_images")] public required long ScoredImages { get; init; }
    [JsonPropertyName("cache_hits")] public required long CacheHits { get; init; }

    /// <summary>First few missing or failed images, with the reason.</summary>
    [JsonPropertyName("problems")] public required IReadOnlyList<string> Problems { get; init; }

    /// <summary>
    /// The reward-hacking monitors over the scored set, computed and shaped as the service's <c>GET /v1/monitor</c>
    /// (<see cref="RewardMonitors"/>): window, groups, spread, saturated_share, mean_sigma, sigma_trend, drift (null
    /// without a calibration) and alerts.
    /// </summary>
    [JsonPropertyName("monitors")] public JsonObject? Monitors { get; init; }

    /// <summary>Sampled μ values per model (or "all"), for the score-distribution plot; not serialised.</summary>
    [JsonIgnore] public IReadOnlyDictionary<string, double[]> ScoreSamples { get; init; } = new Dictionary<string, double[]>();
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
/// <remarks>
/// A summary row on purpose: it repeats some of <see cref="EvalResult"/>'s and <see cref="EvalProtocol"/>'s fields in
/// its own order, so a reader of the table does not have to join it with <see cref="EvalComparison.Results"/>.
/// </remarks>
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
/// Built by <c>HpsSharp.Evaluation</c>'s <c>EvalComparison.From</c>.
/// </summary>
public sealed record EvalComparison
{
    [JsonPropertyName("protocol")] public required DatasetProtocol Protocol { get; init; }
    [JsonPropertyName("paper")] public required PaperReference Paper { get; init; }
    [JsonPropertyName("scorers")] public required IReadOnlyList<ScorerAccuracy> Scorers { get; init; }

    /// <summary>True when every scorer counted the same pairs (no scorer missed an image the others scored).</summary>
    [JsonPropertyName("same_pairs")] public required bool SamePairs { get; init; }

    /// <summary>Each scorer's full evaluation (the shape of <c>hps eval --json</c>), in the order of <see cref="Scorers"/>.</summary>
    [JsonPropertyName("results")] public required IReadOnlyList<EvalResult> Results { get; init; }
}
