namespace HpsSharp.Core.Scoring;

/// <summary>
/// Scores (prompt, image) pairs. The seam between the model and everything built on it (evaluation, the service,
/// CoHP, the CLI). Implementations are thread-safe and batch internally; results come back in input order, and an
/// item that cannot be scored (for example an undecodable image) gets an error instead of failing the call.
/// </summary>
public interface IScorer : IDisposable
{
    /// <summary>What model this is.</summary>
    ModelInfo Model { get; }

    /// <summary>Scores the requests; the result list has one entry per request, in input order.</summary>
    Task<IReadOnlyList<ScoreResult>> ScoreAsync(
        IReadOnlyList<ScoreRequest> requests,
        IProgress<ScoreProgress>? progress = null,
        CancellationToken cancellationToken = default);
}
