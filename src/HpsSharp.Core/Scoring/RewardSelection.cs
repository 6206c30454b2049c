namespace HpsSharp.Core.Scoring;

/// <summary>What number a trainer receives as its reward.</summary>
public enum RewardKind
{
    /// <summary>μ as the model gives it.</summary>
    Mu,

    /// <summary>μ − k·σ: a pessimistic reward that pays less for scores the model is unsure about.</summary>
    MuMinusKSigma,

    /// <summary>The percentile (0–100) of μ against a calibration reference set.</summary>
    Percentile,

    /// <summary>z-score of μ among the request's items that share its prompt (GRPO-style group normalisation).</summary>
    GroupZ,
}

/// <summary>A reward choice: the kind, and k for <see cref="RewardKind.MuMinusKSigma"/>.</summary>
public readonly record struct RewardSelection(RewardKind Kind, double K = 1.0)
{
    /// <summary>The wire names, as requests spell them.</summary>
    public static readonly IReadOnlyList<string> Names = ["mu", "mu_minus_k_sigma", "percentile", "group_z"];

    /// <summary>The wire name of <see cref="Kind"/>.</summary>
    public string Name => Names[(int)Kind];

    /// <summary>Parses a wire name; null for an unknown one.</summary>
    public static RewardKind? ParseKind(string? name) => name switch
    {
        "mu" => RewardKind.Mu,
        "mu_minus_k_sigma" => RewardKind.MuMinusKSigma,
        "percentile" => RewardKind.Percentile,
        "group_z" => RewardKind.GroupZ,
        _ => null,
    };

    /// <summary>
    /// The reward for each scored item (null for failed ones). <paramref name="groups"/> names each item's group
    /// (its prompt); <paramref name="calibration"/> is needed for <see cref="RewardKind.Percentile"/>.
    /// </summary>
    public IReadOnlyList<double?> Apply(IReadOnlyList<Score?> scores, IReadOnlyList<string> groups, Calibration? calibration)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(groups);
        var output = new double?[scores.Count];
        switch (Kind)
        {
            case RewardKind.Mu:
                for (int i = 0; i < scores.Count; i++)
                {
                    output[i] = scores[i]?.Mu;
                }

                break;
            case RewardKind.MuMinusKSigma:
                for (int i = 0; i < scores.Count; i++)
                {
                    output[i] = scores[i] is { } s ? s.Mu - (K * s.Sigma) : null;
                }

                break;
            case RewardKind.Percentile:
                if (calibration is null)
                {
                    throw new InvalidOperationException("the percentile reward needs a calibration");
                }

                for (int i = 0; i < scores.Count; i++)
                {
                    output[i] = scores[i] is { } s ? calibration.Percentile(s.Mu) : null;
                }

                break;
            case RewardKind.GroupZ:
                var z = GroupZ(scores, groups);
                for (int i = 0; i < scores.Count; i++)
                {
                    output[i] = z[i];
                }

                break;
        }

        return output;
    }

    /// <summary>
    /// z = (μ − mean) / std over the scored items with the same group (population std). A group of one item, or
    /// one whose μ are all equal, gets z = 0: there is no spread to normalise by.
    /// </summary>
    public static IReadOnlyList<double?> GroupZ(IReadOnlyList<Score?> scores, IReadOnlyList<string> groups)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(groups);
        var output = new double?[scores.Count];
        foreach (var g in Enumerable.Range(0, scores.Count).Where(i => scores[i] is not null).GroupBy(i => groups[i], StringComparer.Ordinal))
        {
            var idx = g.ToArray();
            double mean = idx.Average(i => scores[i]!.Value.Mu);
            double std = Math.Sqrt(idx.Sum(i => Math.Pow(scores[i]!.Value.Mu - mean, 2)) / idx.Length);
            foreach (int i in idx)
            {
                output[i] = std > 1e-12 ? (scores[i]!.Value.Mu - mean) / std : 0.0;
            }
        }

        return output;
    }
}
