using HpsSharp.Core.Scoring;
using HpsSharp.Evaluation;

namespace HpsSharp.Annotation;

/// <summary>Progress of scoring the pairs with the model: pairs with a probability, pairs that failed, of the total.</summary>
public readonly record struct UncertaintyProgress(int Scored, int Failed, int Total);

/// <summary>
/// Gives every ordinary pair of an <see cref="AnnotationQueue"/> the model's P(path1 ≻ path2) from (μ, σ) of both
/// images (<see cref="Preference.ProbabilityAOverB"/>, by quadrature). Scores go through the evaluator's
/// <see cref="ModelScoreSource"/> and its <see cref="ScoreCache"/>, so a restart, or an image already scored by
/// <c>hps eval</c>/<c>hps score</c> with the same model, costs nothing. Pairs are scored in chunks and each chunk's
/// probabilities reach the queue at once, so annotators are served (by fewest judgements) while scoring runs.
/// </summary>
public static class ModelUncertainty
{
    /// <summary>Pairs per scoring call.</summary>
    public const int ChunkPairs = 16;

    /// <summary>Scores every ordinary pair of <paramref name="queue"/> that has no probability yet.</summary>
    public static async Task<UncertaintyProgress> ScoreAsync(
        AnnotationQueue queue,
        IScorer scorer,
        ScoreCache? cache,
        string imagesRoot,
        IProgress<UncertaintyProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(scorer);
        queue.UseModel();
        var source = new ModelScoreSource(scorer, cache, imagesRoot);
        var todo = queue.Pairs.Where(p => double.IsNaN(queue.Probability(p.Id))).ToList();
        int scored = queue.Scored, failed = 0;
        foreach (var chunk in todo.Chunk(ChunkPairs))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var items = chunk.SelectMany(p => new[] { (p.Prompt, new ImageRef(p.Path1)), (p.Prompt, new ImageRef(p.Path2)) }).ToList();
            var scores = await source.GetAsync(items, cancellationToken).ConfigureAwait(false);
            for (int k = 0; k < chunk.Length; k++)
            {
                if (scores[2 * k].Score is { } a && scores[(2 * k) + 1].Score is { } b)
                {
                    queue.SetProbability(chunk[k].Id, Preference.ProbabilityAOverB(a, b));
                    scored++;
                }
                else
                {
                    // An unreadable image leaves the pair unscored: it is still served, after the scored pairs.
                    failed++;
                }
            }

            progress?.Report(new UncertaintyProgress(scored, failed, queue.Pairs.Count));
        }

        return new UncertaintyProgress(scored, failed, queue.Pairs.Count);
    }
}
