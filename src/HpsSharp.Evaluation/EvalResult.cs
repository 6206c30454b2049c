using System.Text.Json.Serialization;

namespace HpsSharp.Evaluation;

/// <summary>
/// Everything needed to reproduce a number: printed with every result (PRODUCT.md, honesty rules). Field order is
/// the order reports print it in.
/// </summary>
public sealed record EvalProtocol
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
    [JsonPropertyName("scores")] public required string Scores { get; init; }
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("released_hpsv3")] public required bool ReleasedHpsv3 { get; init; }
    [JsonPropertyName("dtype")] public required string Dtype { get; init; }
    [JsonPropertyName("preprocessing")] public required string Preprocessing { get; init; }
    [JsonPropertyName("deterministic")] public bool? Deterministic { get; init; }
    [JsonPropertyName("images_root")] public string? ImagesRoot { get; init; }
    [JsonPropertyName("missing_images")] public required long MissingImages { get; init; }
    [JsonPropertyName("failed_images")] public required long FailedImages { get; init; }
    [JsonPropertyName("skipped_pairs")] public required long SkippedPairs { get; init; }
    [JsonPropertyName("bootstrap")] public required string Bootstrap { get; init; }
    [JsonPropertyName("hpssharp_version")] public required string Version { get; init; }
    [JsonPropertyName("evaluated_utc")] public required string EvaluatedUtc { get; init; }

    /// <summary>
    /// The "deterministic" protocol line, shared by <c>hps eval</c> and <c>hps benchmark</c>: whether every forward held
    /// one item, so no score depends on which other items shared its batch (null: precomputed scores, not known).
    /// </summary>
    public static string DescribeDeterministic(bool? deterministic) => deterministic switch
    {
        true => "yes: one item per forward, so scores do not depend on batch composition (--deterministic)",
        false => "no: batched forwards; bf16 scores can move slightly with batch composition (--deterministic avoids it)",
        null => "unknown (scores file)",
    };

    /// <summary>The protocol as (label, value) lines for console, Markdown and HTML.</summary>
    public IReadOnlyList<(string Label, string Value)> Lines() =>
    [
        ("dataset", Dataset), ("format", Format), ("split", Split), ("dataset sha256", DatasetSha256),
        ("records", Records.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("metric", $"{Metric}: {MetricDefinition}"), ("tie policy", TiePolicyDefinition),
        ("ground-truth ties", GroundTruthTiesDefinition), ("scores", Scores), ("model", Model), ("dtype", Dtype),
        ("preprocessing", Preprocessing),
        ("deterministic", DescribeDeterministic(Deterministic)),
        ("images root", ImagesRoot ?? "(not used: images inside the dataset, or precomputed scores)"),
        ("missing images", MissingImages.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("failed images", FailedImages.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("skipped pairs (missing or failed image)", SkippedPairs.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("95% interval", Bootstrap), ("HpsSharp", Version), ("evaluated (UTC)", EvaluatedUtc),
    ];
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
    /// (<see cref="Core.Scoring.RewardMonitors"/>): window, groups, spread, saturated_share, mean_sigma, sigma_trend,
    /// drift (null without a calibration) and alerts.
    /// </summary>
    [JsonPropertyName("monitors")] public System.Text.Json.Nodes.JsonObject? Monitors { get; init; }

    /// <summary>Sampled μ values per model (or "all"), for the score-distribution plot; not serialised.</summary>
    [JsonIgnore] public IReadOnlyDictionary<string, double[]> ScoreSamples { get; init; } = new Dictionary<string, double[]>();
}
