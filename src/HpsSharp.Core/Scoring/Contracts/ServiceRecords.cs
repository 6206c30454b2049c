using System.Text.Json.Serialization;

namespace HpsSharp.Core.Scoring.Contracts;

// The reward service's answers (POST /v1/score, /v1/compare, /v1/rank, GET /healthz, /readyz): nulls are left out.

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
    public IReadOnlyList<FrameRecord>? Frames { get; init; }

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

/// <summary><c>POST /v1/score</c> answer: one result per item, in input order.</summary>
public sealed record ScoreResponseDto(ModelRecord Model, IReadOnlyList<ItemResultDto> Results);

/// <summary><c>POST /v1/compare</c> answer (no probability for scorers without σ: <see cref="Preferred"/> then says which is higher).</summary>
public sealed record CompareResponseDto(ModelRecord Model, [property: JsonPropertyName("p_a_over_b")] double? PAOverB, ItemResultDto A, ItemResultDto B)
{
    /// <summary><c>a</c>, <c>b</c> or <c>tie</c> by score.</summary>
    public string? Preferred { get; init; }
}

/// <summary><c>POST /v1/rank</c> answer: indices of the scored images, best first, and every result in input order.</summary>
public sealed record RankResponseDto(ModelRecord Model, IReadOnlyList<int> Order, IReadOnlyList<ItemResultDto> Results);

/// <summary><c>GET /healthz</c> and <c>GET /readyz</c> answer.</summary>
public sealed record StatusDto(string Status, ModelRecord? Model, int QueueDepth, int QueueCapacity, string? Error);

// The requests, as the OpenAPI document describes them. The service reads bodies with its own parser (it answers a bad
// item with a per-item error instead of refusing the request, and takes an image as a base64 string or an object).

/// <summary>One <c>/v1/score</c> item: a prompt and exactly one of <c>image</c>, <c>rgb</c> (+ size), <c>path</c> or <c>video</c>.</summary>
public sealed record ScoreItemRequestDto
{
    /// <summary>The prompt the image was generated for.</summary>
    public required string Prompt { get; init; }

    /// <summary>Encoded PNG, JPEG, WebP, BMP or GIF, base64 (or a <c>data:image/...;base64,</c> URI).</summary>
    public string? Image { get; init; }

    /// <summary>Raw interleaved RGB bytes, row-major, width × height × 3 of them, base64.</summary>
    public string? Rgb { get; init; }

    /// <summary>Width of <see cref="Rgb"/>.</summary>
    public int? Width { get; init; }

    /// <summary>Height of <see cref="Rgb"/>.</summary>
    public int? Height { get; init; }

    /// <summary>A file relative to the service's image root; refused when no root is configured or when it leaves the root.</summary>
    public string? Path { get; init; }

    /// <summary>A video clip, base64; its frames are scored and aggregated.</summary>
    public string? Video { get; init; }

    /// <summary>Video: score this many frames evenly spaced over the clip (default 16).</summary>
    public int? Frames { get; init; }

    /// <summary>Video: score every n-th frame instead.</summary>
    public int? Stride { get; init; }

    /// <summary>Video: <c>mean</c>, <c>top_fraction:F</c> or <c>min</c>.</summary>
    public string? Aggregate { get; init; }
}

/// <summary><c>POST /v1/score</c> (JSON; multipart takes fields <c>prompt[i]</c> and file parts <c>image[i]</c>).</summary>
public sealed record ScoreRequestDto
{
    /// <summary>The items, answered in this order.</summary>
    public required IReadOnlyList<ScoreItemRequestDto> Items { get; init; }

    /// <summary><c>group</c>: add <c>group_z</c>, the z-score of μ among the request's scored items with the same prompt.</summary>
    public string? Normalize { get; init; }

    /// <summary>The reward to add to each result: <c>mu</c>, <c>mu_minus_k_sigma</c>, <c>percentile</c> or <c>group_z</c> (with <c>"scorers"</c>/<c>"rewards"</c>: <c>percentile</c> or <c>score</c>).</summary>
    public string? Reward { get; init; }

    /// <summary>k of <c>mu_minus_k_sigma</c> (default 1).</summary>
    public double? K { get; init; }

    /// <summary>Score every item with each of these hosted scorers.</summary>
    public IReadOnlyList<string>? Scorers { get; init; }

    /// <summary>A weighted mix of hosted scorers: <c>"reward"</c> is the weighted sum (of percentiles when all are calibrated).</summary>
    public IReadOnlyDictionary<string, double>? Rewards { get; init; }
}

/// <summary><c>POST /v1/compare</c>: one prompt and two images, each a base64 string or an image object.</summary>
public sealed record CompareRequestDto(string Prompt, System.Text.Json.JsonElement A, System.Text.Json.JsonElement B);

/// <summary><c>POST /v1/rank</c>: one prompt and its candidate images, each a base64 string or an image object.</summary>
public sealed record RankRequestDto(string Prompt, IReadOnlyList<System.Text.Json.JsonElement> Images);
