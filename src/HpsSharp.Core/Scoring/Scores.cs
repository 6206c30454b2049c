namespace HpsSharp.Core.Scoring;

/// <summary>One (prompt, image) pair to score.</summary>
public sealed record ScoreRequest(string Prompt, ImageInput Image);

/// <summary>
/// The score of one pair: μ (the scorer's number) and log σ (its uncertainty). Only HPSv3 predicts an uncertainty;
/// the baseline scorers (PickScore, HPSv2, CLIPScore, the aesthetic predictor, ImageReward) give a point score whose
/// log σ is NaN (<see cref="Point"/>, <see cref="HasUncertainty"/>).
/// </summary>
public readonly record struct Score(double Mu, double LogSigma)
{
    /// <summary>σ = exp(log σ) (NaN for a point score).</summary>
    public double Sigma => Math.Exp(LogSigma);

    /// <summary>True when the scorer predicted an uncertainty (HPSv3).</summary>
    public bool HasUncertainty => !double.IsNaN(LogSigma);

    /// <summary>A score without an uncertainty.</summary>
    public static Score Point(double value) => new(value, double.NaN);
}

/// <summary>The result for one request: a score, or an error message when that item could not be scored.</summary>
public sealed record ScoreResult(ScoreRequest Request, Score? Score, string? Error)
{
    /// <summary>True when the item was scored.</summary>
    public bool Ok => Score is not null;

    public static ScoreResult Success(ScoreRequest request, Score score) => new(request, score, null);

    public static ScoreResult Failure(ScoreRequest request, string error) => new(request, null, error);

    /// <summary>
    /// This result, or a failure when its score is NaN or infinite: a diverged checkpoint's output is an error for
    /// that item, never a number (JSON cannot even hold one).
    /// </summary>
    public ScoreResult Finite() => Score is { } s && !(double.IsFinite(s.Mu) && (!s.HasUncertainty || double.IsFinite(s.LogSigma)))
        ? Failure(Request, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"the model returned a non-finite score (μ = {s.Mu}, log σ = {s.LogSigma})"))
        : this;
}

/// <summary>Progress of a scoring call: items finished out of the total.</summary>
public readonly record struct ScoreProgress(int Done, int Total)
{
    /// <summary>
    /// The results finished since the previous report (one forward batch, or items that failed before it), so that
    /// a caller can persist them as they come (the score cache writes every batch); null when a scorer does not say.
    /// </summary>
    public IReadOnlyList<ScoreResult>? Finished { get; init; }
}

/// <summary>What a scorer is, for reports, caches and honesty about which model produced a number.</summary>
/// <param name="Name">Human-readable name, e.g. "HPSv3 (MizzenAI/HPSv3)" or "tiny test model".</param>
/// <param name="Fingerprint">Identity of the weights' content and the settings; changes when any weight byte or setting changes (cache key).</param>
/// <param name="IsReleasedHpsv3">True only for the released HPSv3 7B checkpoint.</param>
/// <param name="Dtype">"bf16" or "fp32".</param>
/// <param name="MinPixels">Image pixel budget lower bound used by preprocessing.</param>
/// <param name="MaxPixels">Image pixel budget upper bound used by preprocessing.</param>
public sealed record ModelInfo(string Name, string Fingerprint, bool IsReleasedHpsv3, string Dtype, int MinPixels, int MaxPixels)
{
    /// <summary>The scorer's registry name (<c>hpsv3</c>, <c>pickscore</c>, <c>hpsv2</c>, …): written beside every score and part of cache keys.</summary>
    public string Scorer { get; init; } = "hpsv3";

    /// <summary>The device the model runs on ("cpu", "cuda:0"); part of the score cache key, as kernels differ.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>
    /// True when every forward holds one item (<c>--deterministic</c>), so a score does not depend on which other items
    /// shared its batch; part of the score cache key, as batched bf16 scores differ slightly, and printed in protocols.
    /// </summary>
    public bool Deterministic { get; init; }

    /// <summary>A one-line description that says plainly when the model is not the released HPSv3.</summary>
    public string Describe() => Scorer != "hpsv3"
        ? $"{Name} [{Dtype}]"
        : IsReleasedHpsv3
        ? $"{Name} [{Dtype}]"
        : Name.Contains("not the released HPSv3", StringComparison.OrdinalIgnoreCase)
            ? $"{Name} [{Dtype}] — its scores are meaningless as preference scores"
            : $"{Name} [{Dtype}] — NOT the released HPSv3: its scores are meaningless as preference scores";
}
