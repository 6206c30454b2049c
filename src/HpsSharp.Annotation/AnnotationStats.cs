namespace HpsSharp.Annotation;

/// <summary>One annotator's numbers.</summary>
/// <param name="Judgements">Answers of every kind, gold included.</param>
/// <param name="Votes">Ordinary pairs answered path1 or path2.</param>
/// <param name="Ties">Ordinary pairs answered "tie / can't tell".</param>
/// <param name="Skips">Pairs skipped (gold included).</param>
/// <param name="Gold">Their gold record and reliability.</param>
/// <param name="GoldAccuracy">Correct / gold pairs answered with a vote (ties left out); null without such answers.</param>
/// <param name="MajorityCompared">Their votes on ordinary pairs where the other annotators' votes have a strict majority.</param>
/// <param name="MajorityAgreed">Of those, how many match that majority.</param>
/// <param name="MedianMs">Median time per answer.</param>
/// <param name="PerHour">Answers per hour of their own answering time (the sum of the per-answer times).</param>
public sealed record AnnotatorStats(
    string Annotator, int Judgements, int Votes, int Ties, int Skips, AnnotatorReliability Gold, double? GoldAccuracy,
    int MajorityCompared, int MajorityAgreed, double MedianMs, double PerHour, DateTime First, DateTime Last)
{
    /// <summary>MajorityAgreed / MajorityCompared; null when nothing could be compared.</summary>
    public double? MajorityAgreement => MajorityCompared == 0 ? null : (double)MajorityAgreed / MajorityCompared;
}

/// <summary>How well the ordinary pairs are covered.</summary>
/// <param name="Pairs">Ordinary pairs in the database.</param>
/// <param name="Judged">Pairs with at least one vote or tie.</param>
/// <param name="VotesHistogram">Number of pairs by how many votes or ties they have (index = count).</param>
/// <param name="MeanVotes">Mean votes and ties per pair.</param>
public sealed record Coverage(int Pairs, int GoldPairs, int Judged, IReadOnlyList<int> VotesHistogram, double MeanVotes);

/// <summary>Everything <c>hps annotate stats</c> reports.</summary>
/// <param name="Alpha">Krippendorff's α (nominal; values path1 / path2 / tie, skips missing) over ordinary pairs; null when undefined.</param>
/// <param name="AlphaUnits">Pairs with at least two values (the ones α is computed from).</param>
/// <param name="PerHour">Answers per hour of answering time, all annotators together.</param>
/// <param name="WallHours">Hours from the first answer to the last.</param>
public sealed record AnnotationStats(
    int Judgements, int Annotators, Coverage Coverage, double? Alpha, int AlphaUnits, double PerHour, double WallHours,
    IReadOnlyList<AnnotatorStats> PerAnnotator);

/// <summary>Agreement, throughput and coverage of an annotation database.</summary>
public static class AnnotationStatistics
{
    /// <summary>Computes the statistics from the stored pairs and judgements.</summary>
    public static AnnotationStats Compute(IReadOnlyList<AnnotationPair> pairs, IReadOnlyList<Judgement> judgements)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(judgements);
        var ordinary = pairs.Where(p => !p.IsGold).ToList();
        var reliability = Reliability.FromGold(judgements);
        var byPair = judgements.Where(j => j.PairId >= 0 && j.Vote != Vote.Skip).ToLookup(j => j.PairId);

        // Coverage: votes and ties per ordinary pair.
        var counts = ordinary.Select(p => byPair[p.Id].Count()).ToList();
        var histogram = new int[(counts.Count == 0 ? 0 : counts.Max()) + 1];
        foreach (var c in counts)
        {
            histogram[c]++;
        }

        var coverage = new Coverage(ordinary.Count, pairs.Count - ordinary.Count, counts.Count(c => c > 0), histogram, counts.Count == 0 ? 0 : counts.Average());
        var units = ordinary.Select(p => (IReadOnlyList<Vote>)byPair[p.Id].Select(j => j.Vote).ToList()).ToList();
        double? alpha = Krippendorff.NominalAlpha(units);
        int alphaUnits = units.Count(u => u.Count >= 2);

        var perAnnotator = new List<AnnotatorStats>();
        foreach (var group in judgements.GroupBy(j => j.Annotator, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var mine = group.ToList();
            int compared = 0, agreed = 0;
            foreach (var j in mine.Where(j => j.PairId >= 0 && j.Vote is Vote.Path1 or Vote.Path2))
            {
                var others = byPair[j.PairId].Where(o => o.Annotator != j.Annotator).ToList();
                int o1 = others.Count(o => o.Vote == Vote.Path1), o2 = others.Count(o => o.Vote == Vote.Path2);
                if (o1 == o2)
                {
                    continue;
                }

                compared++;
                agreed += (o1 > o2) == (j.Vote == Vote.Path1) ? 1 : 0;
            }

            var gold = reliability[group.Key];
            int goldVotes = gold.Answered - gold.Ties;
            perAnnotator.Add(new AnnotatorStats(
                group.Key,
                mine.Count,
                mine.Count(j => j.PairId >= 0 && j.Vote is Vote.Path1 or Vote.Path2),
                mine.Count(j => j.PairId >= 0 && j.Vote == Vote.Tie),
                mine.Count(j => j.Vote == Vote.Skip),
                gold,
                goldVotes == 0 ? null : (double)gold.Correct / goldVotes,
                compared,
                agreed,
                Median(mine.Select(j => (double)j.Ms)),
                PerHour(mine.Count, mine.Sum(j => j.Ms)),
                mine.Min(j => j.CreatedUtc),
                mine.Max(j => j.CreatedUtc)));
        }

        double wall = judgements.Count < 2 ? 0 : (judgements.Max(j => j.CreatedUtc) - judgements.Min(j => j.CreatedUtc)).TotalHours;
        return new AnnotationStats(judgements.Count, perAnnotator.Count, coverage, alpha, alphaUnits, PerHour(judgements.Count, judgements.Sum(j => j.Ms)), wall, perAnnotator);
    }

    private static double PerHour(int answers, long totalMs) => totalMs <= 0 ? 0 : answers / (totalMs / 3_600_000.0);

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0)
        {
            return 0;
        }

        int mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
