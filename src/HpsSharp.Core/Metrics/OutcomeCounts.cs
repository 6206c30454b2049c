namespace HpsSharp.Core.Metrics;

/// <summary>Counts of pair outcomes; the accuracy under any tie policy follows from them.</summary>
public sealed class OutcomeCounts
{
    private readonly long[] _counts = new long[5];

    /// <summary>Pairs the model orders as humans do.</summary>
    public long Correct => _counts[(int)PairOutcome.Correct];

    /// <summary>Pairs the model orders against humans.</summary>
    public long Wrong => _counts[(int)PairOutcome.Wrong];

    /// <summary>Pairs with exactly equal predicted scores (humans not tied).</summary>
    public long PredictedTies => _counts[(int)PairOutcome.PredictedTie];

    /// <summary>Pairs humans judged a tie (whatever the prediction).</summary>
    public long TruthTies => _counts[(int)PairOutcome.TruthTie] + _counts[(int)PairOutcome.BothTie];

    /// <summary>All pairs counted here.</summary>
    public long Total => _counts.Sum();

    /// <summary>The count of one outcome.</summary>
    public long this[PairOutcome outcome] => _counts[(int)outcome];

    /// <summary>Adds one pair.</summary>
    public void Add(PairOutcome outcome) => _counts[(int)outcome]++;

    /// <summary>Adds all of <paramref name="other"/>.</summary>
    public void Add(OutcomeCounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }
    }

    /// <summary>Σ numerator and Σ denominator under the policies.</summary>
    public (double Numerator, double Denominator) Ratio(TiePolicy ties, GroundTruthTiePolicy truthTies)
    {
        double num = 0, den = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            var (n, d) = Metrics.Accuracy.Weigh((PairOutcome)i, ties, truthTies);
            num += n * _counts[i];
            den += d * _counts[i];
        }

        return (num, den);
    }

    /// <summary>The accuracy under the policies; NaN when no pair counts.</summary>
    public double Accuracy(TiePolicy ties, GroundTruthTiePolicy truthTies)
    {
        var (num, den) = Ratio(ties, truthTies);
        return den == 0 ? double.NaN : num / den;
    }

    /// <summary>
    /// Counts the pairs i &lt; j of one ranking item (ImageRewardDB / HPDv2 test format). Lower rank is better; the
    /// image with the lower rank is the human-preferred one; equal ranks are ground-truth ties.
    /// </summary>
    /// <exception cref="MetricException">Lengths differ or a score is not finite.</exception>
    public static OutcomeCounts ForRanking(IReadOnlyList<double> ranks, IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(ranks);
        ArgumentNullException.ThrowIfNull(scores);
        if (ranks.Count != scores.Count)
        {
            throw new MetricException("ranking accuracy", $"{ranks.Count} ranks but {scores.Count} scores");
        }

        var counts = new OutcomeCounts();
        for (int i = 0; i < ranks.Count; i++)
        {
            for (int j = i + 1; j < ranks.Count; j++)
            {
                bool truthTie = ranks[i] == ranks[j];
                var (preferred, other) = ranks[i] < ranks[j] ? (scores[i], scores[j]) : (scores[j], scores[i]);
                counts.Add(Metrics.Accuracy.Classify(preferred, other, truthTie));
            }
        }

        return counts;
    }
}
