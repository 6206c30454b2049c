using HpsSharp.Core.Scoring;

namespace HpsSharp.Server;

/// <summary>
/// Several scorers hosted by one service, keyed by registry name. The first is the primary: it answers every request
/// that names no scorer and goes through the micro-batching queue; the others are called directly when a request
/// asks for them with <c>"scorers"</c> or <c>"rewards"</c> (every <see cref="IScorer"/> is thread-safe and batches
/// internally). As an <see cref="IScorer"/> the set is its primary, so the queue and the trainer protocols need not
/// know about the others. Owns and disposes every scorer.
/// </summary>
public sealed class ScorerSet : IScorer
{
    private readonly List<(string Name, IScorer Scorer)> _scorers;

    /// <param name="scorers">Name and scorer, the primary first; names must be distinct.</param>
    public ScorerSet(IReadOnlyList<(string Name, IScorer Scorer)> scorers)
    {
        ArgumentNullException.ThrowIfNull(scorers);
        if (scorers.Count == 0)
        {
            throw new ArgumentException("a scorer set needs at least one scorer", nameof(scorers));
        }

        var dup = scorers.GroupBy(s => s.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
        {
            throw new ArgumentException($"scorer '{dup.Key}' is named twice", nameof(scorers));
        }

        _scorers = [.. scorers];
    }

    /// <summary>The primary scorer's name.</summary>
    public string PrimaryName => _scorers[0].Name;

    /// <summary>Every hosted scorer's name, the primary first.</summary>
    public IReadOnlyList<string> Names => [.. _scorers.Select(s => s.Name)];

    /// <inheritdoc/>
    public ModelInfo Model => _scorers[0].Scorer.Model;

    /// <summary>The hosted scorer called <paramref name="name"/>, or null.</summary>
    public IScorer? Get(string name) => _scorers.FirstOrDefault(s => s.Name == name).Scorer;

    /// <summary>Every hosted scorer's model, the primary first.</summary>
    public IReadOnlyList<ModelInfo> Models => [.. _scorers.Select(s => s.Scorer.Model)];

    /// <inheritdoc/>
    public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default) =>
        _scorers[0].Scorer.ScoreAsync(requests, progress, cancellationToken);

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var (_, scorer) in _scorers)
        {
            scorer.Dispose();
        }
    }
}
