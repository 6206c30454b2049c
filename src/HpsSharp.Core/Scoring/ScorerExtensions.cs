namespace HpsSharp.Core.Scoring;

/// <summary>The comparison and ranking operations every <see cref="IScorer"/> supports.</summary>
public static class ScorerExtensions
{
    /// <summary>
    /// Scores A and B for one prompt and returns P(A≻B) with both scores. Scorers without an uncertainty (every
    /// baseline) give no probability: <see cref="Comparison.ProbabilityAOverB"/> is NaN and only the scores say which wins.
    /// </summary>
    public static async Task<Comparison> CompareAsync(this IScorer scorer, string prompt, ImageInput a, ImageInput b, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        var results = await scorer.ScoreAsync([new ScoreRequest(prompt, a), new ScoreRequest(prompt, b)], null, cancellationToken).ConfigureAwait(false);
        var ra = Require(results[0].Finite());
        var rb = Require(results[1].Finite());
        var p = ra.HasUncertainty && rb.HasUncertainty ? Preference.ProbabilityAOverB(ra, rb) : double.NaN;
        return new Comparison(p, ra, rb);
    }

    /// <summary>Scores every image for the prompt and returns the indices best first (ties keep input order).</summary>
    public static async Task<Ranking> RankAsync(this IScorer scorer, string prompt, IReadOnlyList<ImageInput> images, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(images);
        var scored = await scorer.ScoreAsync(images.Select(i => new ScoreRequest(prompt, i)).ToList(), progress, cancellationToken).ConfigureAwait(false);

        // A NaN μ cannot be ordered: it is an error for that image, like an undecodable file.
        var results = scored.Select(r => r.Finite()).ToList();
        var order = Enumerable.Range(0, results.Count)
            .Where(i => results[i].Ok)
            .OrderByDescending(i => results[i].Score!.Value.Mu)
            .ThenBy(i => i)
            .ToArray();
        return new Ranking(order, results);
    }

    private static Score Require(ScoreResult r) =>
        r.Score ?? throw new InvalidOperationException($"could not score '{r.Request.Image.Name}': {r.Error}");
}

/// <summary>P(A≻B) and both scores.</summary>
public sealed record Comparison(double ProbabilityAOverB, Score A, Score B);

/// <summary>Indices of the scored images best first (failed items are left out) and every result in input order.</summary>
public sealed record Ranking(IReadOnlyList<int> Order, IReadOnlyList<ScoreResult> Results);
