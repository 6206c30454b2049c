using System.Text.Json.Serialization;

namespace HpsSharp.Core.Scoring.Contracts;

/// <summary>
/// One scored or failed image in <c>hps score|rank --json</c> (and each side of <c>hps compare --json</c>): the image and
/// prompt, <c>"scorer"</c>, and either the numbers (<see cref="ScoredItem"/>) or <c>"error"</c> (<see cref="FailedItem"/>).
/// </summary>
[JsonDerivedType(typeof(ScoredItem))]
[JsonDerivedType(typeof(FailedItem))]
public abstract record ScoreItem
{
    // The serializer writes a derived record's own properties first; these lead every item, as people read them.

    /// <summary>The image as the input named it.</summary>
    [JsonPropertyOrder(-3)]
    public required string Image { get; init; }

    /// <summary>The prompt (left out on the sides of a comparison, which share one).</summary>
    [JsonPropertyOrder(-2)]
    public string? Prompt { get; init; }

    /// <summary>The registry name of the scorer.</summary>
    [JsonPropertyOrder(-1)]
    public required string Scorer { get; init; }

    /// <summary>
    /// The item for one result: its numbers, or an error for a failed item and for a non-finite score (the rule of
    /// <see cref="ScoreResult.Finite"/>: JSON cannot hold NaN, and a diverged model's number is not a score).
    /// </summary>
    public static ScoreItem From(ScoreResult result, string scorer, Calibration? calibration = null, bool withPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(result);
        result = result.Finite();
        string? prompt = withPrompt ? result.Request.Prompt : null;
        return result.Score is { } s
            ? ScoredItem.From(result.Request.Image.Name, prompt, s, scorer, calibration)
            : new FailedItem { Image = result.Request.Image.Name, Prompt = prompt, Scorer = scorer, Error = result.Error ?? "could not be scored" };
    }
}

/// <summary>A scored item: <c>"score"</c> always; μ, log σ and σ when the scorer predicts an uncertainty (HPSv3).</summary>
public sealed record ScoredItem : ScoreItem
{
    /// <summary>The scorer's number (μ for HPSv3).</summary>
    public required double Score { get; init; }

    /// <summary>μ (HPSv3 only).</summary>
    public double? Mu { get; init; }

    /// <summary>log σ (HPSv3 only).</summary>
    public double? LogSigma { get; init; }

    /// <summary>σ = exp(log σ) (HPSv3 only).</summary>
    public double? Sigma { get; init; }

    /// <summary>Percentile (0–100) of the score against a calibration, when one was given.</summary>
    public double? Percentile { get; init; }

    /// <summary>The item for a finite score.</summary>
    public static ScoredItem From(string image, string? prompt, Score score, string scorer, Calibration? calibration = null) => new()
    {
        Image = image,
        Prompt = prompt,
        Scorer = scorer,
        Score = score.Mu,
        Mu = score.HasUncertainty ? score.Mu : null,
        LogSigma = score.HasUncertainty ? score.LogSigma : null,
        Sigma = score.HasUncertainty ? score.Sigma : null,
        Percentile = calibration?.Percentile(score.Mu),
    };
}

/// <summary>A failed item: the numbers stay as explicit nulls, so that readers see the same keys on every item.</summary>
public sealed record FailedItem : ScoreItem
{
    /// <summary>Always null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public double? Mu => null;

    /// <summary>Always null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public double? LogSigma => null;

    /// <summary>Always null.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public double? Sigma => null;

    /// <summary>Why the item was not scored.</summary>
    public required string Error { get; init; }
}

/// <summary><c>hps score --json</c>: the model, then one item per input in input order.</summary>
public sealed record ScoreDocument(ModelRecord Model, IReadOnlyList<ScoreItem> Results);

/// <summary><c>hps rank --json</c>: the indices of the scored images best first, and every item in input order.</summary>
public sealed record RankDocument(ModelRecord Model, IReadOnlyList<int> Order, IReadOnlyList<ScoreItem> Results);

/// <summary><c>hps compare --json</c>: P(A≻B) (null for a scorer without σ), which is preferred, and both scores.</summary>
public sealed record CompareDocument(
    ModelRecord Model,
    [property: JsonPropertyName("p_a_over_b"), JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? PAOverB,
    string Preferred,
    ScoreItem A,
    ScoreItem B);

/// <summary><c>hps tokenize --json</c>: the token ids, and with a prompt and an image the position of <c>&lt;|Reward|&gt;</c>.</summary>
public sealed record TokenizeDocument(IReadOnlyList<int> Ids, int? RewardIndex);

/// <summary>One sampled frame's score (or error) in a video result, in <c>hps score --video --json</c> and the service.</summary>
/// <param name="Index">The frame's index in the clip.</param>
/// <param name="Time">Its time in seconds.</param>
/// <param name="Mu">μ, when scored.</param>
/// <param name="LogSigma">log σ, when scored.</param>
/// <param name="Error">Why the frame was not scored.</param>
public sealed record FrameRecord(int Index, double Time, double? Mu, double? LogSigma, string? Error);

/// <summary>One clip in <c>hps score --video --json</c>: the aggregated μ with its method and every frame, or the error.</summary>
public sealed record VideoRecord
{
    /// <summary>The video as the input named it.</summary>
    public required string Video { get; init; }

    /// <summary>The prompt.</summary>
    public required string Prompt { get; init; }

    /// <summary>The aggregate of the frames' μ.</summary>
    public double? Mu { get; init; }

    /// <summary>How the frames were aggregated (<c>mean</c>, <c>top_fraction:0.3</c>, <c>min</c>).</summary>
    public string? Aggregate { get; init; }

    /// <summary>Percentile (0–100) of μ against a calibration, when one was given.</summary>
    public double? Percentile { get; init; }

    /// <summary>Why the clip was not scored.</summary>
    public string? Error { get; init; }

    /// <summary>Every sampled frame.</summary>
    public required IReadOnlyList<FrameRecord> Frames { get; init; }
}

/// <summary><c>hps score --video --json</c>.</summary>
public sealed record VideoDocument(ModelRecord Model, IReadOnlyList<VideoRecord> Results);
