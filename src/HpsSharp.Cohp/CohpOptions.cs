using System.Globalization;

namespace HpsSharp.Cohp;

/// <summary>
/// Every number of the CoHP algorithm. Defaults are the upstream code's behaviour (docs/cohp.md): 2 images per
/// generator, 4 rounds of 4 candidates, strengths 0.8, 0.8, 0.8, 0.5, best-so-far starting at 0, the model-stage
/// image not competing, no early stop. (The upstream README says 0.8 for rounds 1–2 and 0.5 for rounds 3–4.)
/// </summary>
public sealed record CohpOptions
{
    /// <summary>Images each generator makes in the model stage (N).</summary>
    public int ImagesPerGenerator { get; init; } = 2;

    /// <summary>Refinement rounds (S).</summary>
    public int Rounds { get; init; } = 4;

    /// <summary>img2img candidates per round (K).</summary>
    public int CandidatesPerRound { get; init; } = 4;

    /// <summary>
    /// Strength per round; when shorter than <see cref="Rounds"/> its last value repeats (as upstream, where 0.5 stays
    /// once set), values beyond <see cref="Rounds"/> are unused.
    /// </summary>
    public IReadOnlyList<double> Strengths { get; init; } = [0.8, 0.8, 0.8, 0.5];

    /// <summary>Base seed; every image's seed is derived from it, the stage, generator, round and index.</summary>
    public long Seed { get; init; }

    /// <summary>The initial best-so-far score a round's best must exceed (upstream: 0).</summary>
    public double Threshold { get; init; }

    /// <summary>When true, the model-stage image's score is the initial best-so-far instead of <see cref="Threshold"/>.</summary>
    public bool StartCompetes { get; init; }

    /// <summary>Stop refining after the first round whose best does not beat the best so far (off upstream).</summary>
    public bool EarlyStop { get; init; }

    /// <summary>Names of the generators to use (null: all, in file order).</summary>
    public IReadOnlyList<string>? Generators { get; init; }

    /// <summary>The strength used in round <paramref name="round"/> (1-based).</summary>
    public double StrengthFor(int round) => Strengths[Math.Min(round, Strengths.Count) - 1];

    /// <summary>Throws <see cref="Core.UserInputException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        static void Check(bool ok, string field, FormattableString reason)
        {
            if (!ok)
            {
                throw Core.UserInputException.ForOption(field, reason);
            }
        }

        Check(ImagesPerGenerator >= 1, nameof(ImagesPerGenerator), $"is {ImagesPerGenerator}; must be at least 1");
        Check(Rounds >= 0, nameof(Rounds), $"is {Rounds}; must be 0 or more");
        Check(CandidatesPerRound >= 1, nameof(CandidatesPerRound), $"is {CandidatesPerRound}; must be at least 1");
        Check(Strengths.Count >= 1 || Rounds == 0, nameof(Strengths), $"needs at least one value");
        foreach (var s in Strengths)
        {
            Check(s > 0 && s <= 1, nameof(Strengths), $"value {s.ToString(CultureInfo.InvariantCulture)} is outside (0, 1]");
        }

        Check(Seed >= 0, nameof(Seed), $"is {Seed}; must be 0 or more");
        Check(double.IsFinite(Threshold), nameof(Threshold), $"must be a finite number");
    }
}
