namespace HpsSharp.Annotation;

/// <summary>An annotator's record on gold pairs and the reliability estimated from it.</summary>
/// <param name="Answered">Gold pairs answered with a vote or a tie (skips are not counted).</param>
/// <param name="Correct">Gold pairs where they chose the known answer.</param>
/// <param name="Ties">Gold pairs answered "tie / can't tell".</param>
/// <param name="Value">r = (correct + ties/2 + 1) / (answered + 2).</param>
public sealed record AnnotatorReliability(string Annotator, int Answered, int Correct, int Ties, double Value);

/// <summary>
/// Annotator reliability from gold pairs, and the confidence of an exported label from it.
/// </summary>
/// <remarks>
/// <para>
/// Reliability of annotator a: r_a = (c_a + t_a/2 + 1) / (n_a + 2), where n_a is the number of gold pairs they
/// answered with a vote or a tie, c_a how many of those they got right and t_a how many they called a tie (half
/// right: a tie names neither image). This is the mean of the Beta(1, 1) posterior of the probability that they pick
/// the better image (Laplace's rule): an annotator without gold answers gets 0.5, i.e. no weight either way, and no
/// one reaches exactly 0 or 1.
/// </para>
/// <para>
/// Confidence of a pair's label (HPSv3 calls it reliability based on annotator capability): under the one-coin
/// model (each annotator picks the truly better image with probability r_a, independently) and a uniform prior over
/// which image is better, the posterior that path1 is better given the votes is
/// confidence = σ(Σ_{a voted path1} logit r_a − Σ_{a voted path2} logit r_a), with σ the logistic function and
/// logit r = ln(r / (1 − r)). Ties and skips carry no evidence. Two reliable annotators agreeing give high
/// confidence; an even split of equally reliable annotators gives 0.5; an annotator worse than chance (r &lt; 0.5)
/// counts as weak evidence for the other image.
/// </para>
/// </remarks>
public static class Reliability
{
    /// <summary>Reliability of every annotator who judged anything; annotators without gold answers get 0.5.</summary>
    public static Dictionary<string, AnnotatorReliability> FromGold(IEnumerable<Judgement> judgements)
    {
        ArgumentNullException.ThrowIfNull(judgements);
        var tallies = new Dictionary<string, (int Answered, int Correct, int Ties)>(StringComparer.Ordinal);
        foreach (var j in judgements)
        {
            var t = tallies.GetValueOrDefault(j.Annotator);
            if (j.PairId < 0 && j.Vote != Vote.Skip)
            {
                // A gold pair's path1 is the known answer.
                t = (t.Answered + 1, t.Correct + (j.Vote == Vote.Path1 ? 1 : 0), t.Ties + (j.Vote == Vote.Tie ? 1 : 0));
            }

            tallies[j.Annotator] = t;
        }

        return tallies.ToDictionary(
            kv => kv.Key,
            kv => new AnnotatorReliability(kv.Key, kv.Value.Answered, kv.Value.Correct, kv.Value.Ties, (kv.Value.Correct + (kv.Value.Ties / 2.0) + 1) / (kv.Value.Answered + 2.0)),
            StringComparer.Ordinal);
    }

    /// <summary>P(path1 is better | votes) under the one-coin model (see the remarks on <see cref="Reliability"/>).</summary>
    /// <param name="path1Voters">Reliabilities of the annotators who chose path1.</param>
    /// <param name="path2Voters">Reliabilities of the annotators who chose path2.</param>
    public static double Confidence(IEnumerable<double> path1Voters, IEnumerable<double> path2Voters)
    {
        ArgumentNullException.ThrowIfNull(path1Voters);
        ArgumentNullException.ThrowIfNull(path2Voters);
        double logOdds = path1Voters.Sum(Logit) - path2Voters.Sum(Logit);
        return logOdds >= 0 ? 1 / (1 + Math.Exp(-logOdds)) : Math.Exp(logOdds) / (1 + Math.Exp(logOdds));
    }

    private static double Logit(double r)
    {
        if (!(r is > 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(r), r, "a reliability is strictly between 0 and 1");
        }

        return Math.Log(r / (1 - r));
    }
}
