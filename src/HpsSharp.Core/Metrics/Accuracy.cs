namespace HpsSharp.Core.Metrics;

/// <summary>How a pair whose two predicted scores are exactly equal is counted.</summary>
public enum TiePolicy
{
    /// <summary>The paper's policy: a predicted tie counts as wrong (it stays in the denominator).</summary>
    Strict,

    /// <summary>A predicted tie counts as half correct.</summary>
    Half,

    /// <summary>Predicted ties are left out of numerator and denominator.</summary>
    Exclude,
}

/// <summary>How a pair that humans judged a tie (Pick-a-Pic 0.5/0.5, HPDv3 equal votes, equal ranks) is counted.</summary>
public enum GroundTruthTiePolicy
{
    /// <summary>The paper's ranking protocol: left out, and counted separately.</summary>
    Exclude,

    /// <summary>Counted with weight 1 and score 0.5 whatever the prediction.</summary>
    Half,

    /// <summary>Counted with weight 1; correct only when the prediction is also a tie.</summary>
    Match,

    /// <summary>
    /// Counted as listed: the pair keeps the orientation the dataset gives it (HPDv3: <c>path1</c> preferred even
    /// when <c>choice_dist</c> votes are equal), exactly as HPSv3's <c>evaluate.py</c> counts every pair. The
    /// evaluator classifies such pairs as ordinary pairs, so <see cref="PairOutcome.TruthTie"/> never reaches
    /// <see cref="Accuracy.Weigh"/> under this policy.
    /// </summary>
    Listed,
}

/// <summary>The outcome of one judged pair.</summary>
public enum PairOutcome : byte
{
    /// <summary>The model scores the human-preferred image strictly higher.</summary>
    Correct,

    /// <summary>The model scores the human-preferred image strictly lower.</summary>
    Wrong,

    /// <summary>The two scores are exactly equal.</summary>
    PredictedTie,

    /// <summary>Humans judged a tie; the model does not predict one.</summary>
    TruthTie,

    /// <summary>Humans judged a tie and the model's scores are exactly equal.</summary>
    BothTie,
}

/// <summary>
/// Pair outcomes and how each tie policy weighs them. A pair contributes (numerator, denominator) to the accuracy
/// ratio; policies only change those two numbers, so counts and intervals stay consistent.
/// </summary>
public static class Accuracy
{
    /// <summary>Classifies a pair from the score of the human-preferred image and the other image's score.</summary>
    /// <exception cref="MetricException">A score is NaN or infinite.</exception>
    public static PairOutcome Classify(double preferred, double other, bool truthTie)
    {
        if (!double.IsFinite(preferred) || !double.IsFinite(other))
        {
            throw new MetricException("pair accuracy", $"scores must be finite numbers, got {preferred} and {other}");
        }

        bool tie = preferred == other;
        if (truthTie)
        {
            return tie ? PairOutcome.BothTie : PairOutcome.TruthTie;
        }

        return tie ? PairOutcome.PredictedTie : preferred > other ? PairOutcome.Correct : PairOutcome.Wrong;
    }

    /// <summary>The (numerator, denominator) a pair contributes under the given policies.</summary>
    public static (double Numerator, double Denominator) Weigh(PairOutcome outcome, TiePolicy ties, GroundTruthTiePolicy truthTies) => outcome switch
    {
        PairOutcome.Correct => (1, 1),
        PairOutcome.Wrong => (0, 1),
        PairOutcome.PredictedTie => ties switch
        {
            TiePolicy.Strict => (0, 1),
            TiePolicy.Half => (0.5, 1),
            _ => (0, 0),
        },
        PairOutcome.TruthTie => truthTies switch
        {
            GroundTruthTiePolicy.Half => (0.5, 1),
            GroundTruthTiePolicy.Match => (0, 1),
            _ => (0, 0),
        },
        PairOutcome.BothTie => truthTies switch
        {
            GroundTruthTiePolicy.Half => (0.5, 1),
            GroundTruthTiePolicy.Match => (1, 1),
            _ => (0, 0),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(outcome)),
    };

    /// <summary>Lower-case name used in reports and on the command line ("strict", "half", "exclude", "match").</summary>
    public static string Name(TiePolicy policy) => policy.ToString().ToLowerInvariant();

    /// <inheritdoc cref="Name(TiePolicy)"/>
    public static string Name(GroundTruthTiePolicy policy) => policy.ToString().ToLowerInvariant();

    /// <summary>One sentence saying what the policy does, for the protocol block.</summary>
    public static string Describe(TiePolicy policy) => policy switch
    {
        TiePolicy.Strict => "strict: a predicted tie (equal scores) counts as wrong (the paper's policy)",
        TiePolicy.Half => "half: a predicted tie counts as half correct",
        _ => "exclude: predicted ties are left out of the accuracy",
    };

    /// <inheritdoc cref="Describe(TiePolicy)"/>
    public static string Describe(GroundTruthTiePolicy policy) => policy switch
    {
        GroundTruthTiePolicy.Exclude => "exclude: pairs humans judged a tie are left out (counted separately)",
        GroundTruthTiePolicy.Half => "half: pairs humans judged a tie count as half correct",
        GroundTruthTiePolicy.Listed => "listed: pairs humans judged a tie count in their listed order (path1 preferred), as HPSv3's evaluate.py counts every listed pair",
        _ => "match: pairs humans judged a tie count as correct only when the scores are equal too",
    };
}
