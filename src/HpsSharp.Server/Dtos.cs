using System.Text.Json.Serialization;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Server;

/// <summary>One item's answer: the score, or an error with the status that item would have had on its own.</summary>
/// <param name="Mu">μ, the score.</param>
/// <param name="LogSigma">log σ, the uncertainty the reward head predicts.</param>
/// <param name="Sigma">σ = exp(log σ).</param>
/// <param name="GroupZ">With <c>"normalize": "group"</c>: (μ − mean) / std over the request's scored items with the same prompt.</param>
/// <param name="Error">Why the item was not scored.</param>
/// <param name="Status">400 for an item the service rejected (bad base64, undecodable image, ...), 422 when the scorer failed on it.</param>
public sealed record ItemResultDto(double? Mu, double? LogSigma, double? Sigma, double? GroupZ, string? Error, int? Status)
{
    /// <summary>Percentile (0–100) of μ against the service's calibration, when one is loaded.</summary>
    public double? Percentile { get; init; }

    /// <summary>The reward the request selected with <c>"reward"</c> (μ, μ − kσ, percentile or group z).</summary>
    public double? Reward { get; init; }

    /// <summary>For a video item: how the frames were aggregated into μ (e.g. <c>mean</c>).</summary>
    public string? Aggregate { get; init; }

    /// <summary>For a video item: every sampled frame's score.</summary>
    public IReadOnlyList<Protocols.FrameScoreDto>? Frames { get; init; }

    /// <summary>The scorer's number (μ for HPSv3, the baseline's own score otherwise).</summary>
    public double? Score { get; init; }

    /// <summary>The registry name of the scorer that produced <see cref="Score"/>.</summary>
    public string? Scorer { get; init; }

    /// <summary>
    /// With <c>"scorers"</c> or <c>"rewards"</c> in the request: one entry per scorer asked for, keyed by its name.
    /// </summary>
    public IReadOnlyDictionary<string, ScorerEntryDto>? Scorers { get; init; }

    /// <summary>A σ-bearing score keeps μ, log σ and σ; a point score (a baseline) carries only <c>score</c>.</summary>
    public static ItemResultDto From(Score s, string scorer) => s.HasUncertainty
        ? new(s.Mu, s.LogSigma, s.Sigma, null, null, null) { Score = s.Mu, Scorer = scorer }
        : new(null, null, null, null, null, null) { Score = s.Mu, Scorer = scorer };

    public static ItemResultDto Failed(string error, int status) => new(null, null, null, null, error, status);
}

/// <summary>One scorer's answer for one item when a request asks for several scorers.</summary>
/// <param name="Score">The scorer's number.</param>
/// <param name="Mu">μ (HPSv3 only).</param>
/// <param name="LogSigma">log σ (HPSv3 only).</param>
/// <param name="Sigma">σ (HPSv3 only).</param>
/// <param name="Percentile">Percentile (0–100) against this scorer's calibration, when one is loaded.</param>
/// <param name="Weight">The weight the request's <c>"rewards"</c> gave this scorer.</param>
/// <param name="Error">Why this scorer could not score the item.</param>
public sealed record ScorerEntryDto(double? Score, double? Mu, double? LogSigma, double? Sigma, double? Percentile, double? Weight, string? Error);

/// <summary>Which model answered (so a client can tell a test model from the released HPSv3); the same keys as <c>hps score --json</c>.</summary>
public sealed record ModelDto(string Name, string Fingerprint, [property: JsonPropertyName("released_hpsv3")] bool IsReleasedHpsv3, string Dtype, int MinPixels, int MaxPixels)
{
    /// <summary>The registry name of the scorer (<c>hpsv3</c>, <c>pickscore</c>, ...).</summary>
    public string Scorer { get; init; } = "hpsv3";

    /// <summary>With several hosted scorers: every one's name and model, the primary (this one) first.</summary>
    public IReadOnlyList<ModelDto>? Hosted { get; init; }

    public static ModelDto From(ModelInfo m) => new(m.Name, m.Fingerprint, m.IsReleasedHpsv3, m.Dtype, m.MinPixels, m.MaxPixels) { Scorer = m.Scorer };
}

/// <summary><c>POST /v1/score</c> answer: one result per item, in input order.</summary>
public sealed record ScoreResponseDto(ModelDto Model, IReadOnlyList<ItemResultDto> Results);

/// <summary><c>POST /v1/compare</c> answer (no probability for scorers without σ: <see cref="Preferred"/> then says which is higher).</summary>
public sealed record CompareResponseDto(ModelDto Model, [property: JsonPropertyName("p_a_over_b")] double? PAOverB, ItemResultDto A, ItemResultDto B)
{
    /// <summary><c>a</c>, <c>b</c> or <c>tie</c> by score.</summary>
    public string? Preferred { get; init; }
}

/// <summary><c>POST /v1/rank</c> answer: indices of the scored images, best first, and every result in input order.</summary>
public sealed record RankResponseDto(ModelDto Model, IReadOnlyList<int> Order, IReadOnlyList<ItemResultDto> Results);

/// <summary><c>GET /healthz</c> and <c>GET /readyz</c> answer.</summary>
public sealed record StatusDto(string Status, ModelDto? Model, int QueueDepth, int QueueCapacity, string? Error);

/// <summary>Source-generated JSON for the service's DTOs (snake_case, nulls left out).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ScoreResponseDto))]
[JsonSerializable(typeof(CompareResponseDto))]
[JsonSerializable(typeof(RankResponseDto))]
[JsonSerializable(typeof(StatusDto))]
public sealed partial class ServerJsonContext : JsonSerializerContext;
