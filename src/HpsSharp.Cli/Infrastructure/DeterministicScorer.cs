using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// A scorer loaded for <c>--deterministic</c> (one item per forward): the same scorer, whose <see cref="IScorer.Model"/>
/// says <see cref="ModelInfo.Deterministic"/>, so its scores get their own cache keys and the protocol states it.
/// </summary>
internal sealed class DeterministicScorer(IScorer inner) : IScorer
{
    public ModelInfo Model { get; } = inner.Model with { Deterministic = true };

    public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default) =>
        inner.ScoreAsync(requests, progress, cancellationToken);

    public void Dispose() => inner.Dispose();
}
