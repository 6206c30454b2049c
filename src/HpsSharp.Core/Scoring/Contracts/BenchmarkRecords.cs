using System.Text.Json.Serialization;

namespace HpsSharp.Core.Scoring.Contracts;

/// <summary>Mean μ of one model in one category.</summary>
public sealed record CategoryMean(
    [property: JsonPropertyName("category")] string Category,
    [property: JsonPropertyName("mean")] double Mean,
    [property: JsonPropertyName("std")] double Std,
    [property: JsonPropertyName("images")] int Images);

/// <summary>One model's benchmark row: overall = mean of its category means (as the paper).</summary>
public sealed record ModelBenchmark(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("overall")] double Overall,
    [property: JsonPropertyName("images")] int Images,
    [property: JsonPropertyName("categories")] IReadOnlyList<CategoryMean> Categories,
    [property: JsonPropertyName("human_reference")] double? HumanReference);

/// <summary>Agreement of the models' overall means with the human reference.</summary>
public sealed record Correlation(
    [property: JsonPropertyName("models")] IReadOnlyList<string> Models,
    [property: JsonPropertyName("spearman")] double? Spearman,
    [property: JsonPropertyName("kendall_tau_b")] double? KendallTauB,
    [property: JsonPropertyName("normalized_mse")] double? NormalizedMse,
    [property: JsonPropertyName("note")] string? Note);

/// <summary>The protocol of a benchmark run (<c>hps benchmark</c>).</summary>
public sealed record BenchmarkProtocol
{
    [JsonPropertyName("root")] public required string Root { get; init; }
    [JsonPropertyName("layout")] public required string Layout { get; init; }
    [JsonPropertyName("manifest_sha256")] public required string ManifestSha256 { get; init; }
    [JsonPropertyName("images")] public required int Images { get; init; }
    [JsonPropertyName("aggregation")] public required string Aggregation { get; init; }
    [JsonPropertyName("reference")] public required string Reference { get; init; }
    [JsonPropertyName("correlation")] public required string CorrelationDefinition { get; init; }

    /// <summary>The scorer; written as the flat fields below, as in <see cref="EvalProtocol"/>.</summary>
    /// <remarks>A field: System.Text.Json refuses a required property that it ignores.</remarks>
    [JsonIgnore] public required ScorerDescription Scorer;
    [JsonPropertyName("scores")] public string Scores => Scorer.Scores;
    [JsonPropertyName("model")] public string Model => Scorer.Model;
    [JsonPropertyName("released_hpsv3")] public bool ReleasedHpsv3 => Scorer.ReleasedHpsv3;
    [JsonPropertyName("dtype")] public string Dtype => Scorer.Dtype;
    [JsonPropertyName("preprocessing")] public string Preprocessing => Scorer.Preprocessing;
    [JsonPropertyName("deterministic")] public bool? Deterministic => Scorer.Deterministic;
    [JsonPropertyName("missing_prompts")] public required int MissingPrompts { get; init; }
    [JsonPropertyName("missing_or_failed_images")] public required int MissingOrFailed { get; init; }
    [JsonPropertyName("hpssharp_version")] public required string Version { get; init; }
    [JsonPropertyName("evaluated_utc")] public required string EvaluatedUtc { get; init; }
}

/// <summary>The result of <c>hps benchmark</c>.</summary>
public sealed record BenchmarkResult
{
    [JsonPropertyName("protocol")] public required BenchmarkProtocol Protocol { get; init; }
    [JsonPropertyName("models")] public required IReadOnlyList<ModelBenchmark> Models { get; init; }
    [JsonPropertyName("correlation")] public required Correlation Correlation { get; init; }
    [JsonPropertyName("problems")] public required IReadOnlyList<string> Problems { get; init; }
}
