using HpsSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Training.Losses;

/// <summary>The training losses (spelled as <see cref="PairLoss.Spelling"/> says).</summary>
[System.ComponentModel.TypeConverter(typeof(LossKindTypeConverter))]
[System.Text.Json.Serialization.JsonConverter(typeof(LossKindJsonConverter))]
public enum LossKind
{
    /// <summary><c>uncertainty</c>: HPSv3's loss, deterministic quadrature form (default).</summary>
    Uncertainty,

    /// <summary><c>uncertainty-mc</c>: HPSv3's loss as the released code computes it (1000 seeded samples, fp16 ε).</summary>
    UncertaintyMonteCarlo,

    /// <summary><c>bt</c>: Bradley–Terry on μ.</summary>
    BradleyTerry,

    /// <summary><c>btt</c>: Bradley–Terry with ties (k = 5) on μ.</summary>
    BradleyTerryWithTies,

    /// <summary><c>margin</c>: constant margin 0.57 on μ.</summary>
    ConstantMargin,

    /// <summary><c>hpsv2</c>: the code's softmax cross-entropy on μ, summed over the batch.</summary>
    Hpsv2,
}

/// <summary>A configured loss: maps the head outputs of A and B ([B, 2] = μ, log σ) to a scalar.</summary>
public sealed class PairLoss : IDisposable
{
    private readonly Generator? _generator;

    public PairLoss(LossKind kind, long seed = 0, int samples = PairLosses.DefaultSamples, bool roundSamplesToHalf = true)
    {
        Kind = kind;
        Samples = samples;
        RoundSamplesToHalf = roundSamplesToHalf;
        if (kind == LossKind.UncertaintyMonteCarlo)
        {
            _generator = new Generator((ulong)seed, CPU);
        }
    }

    public LossKind Kind { get; }

    public int Samples { get; }

    public bool RoundSamplesToHalf { get; }

    /// <summary>The sampling generator of <c>uncertainty-mc</c> (its state is part of a checkpoint); null otherwise.</summary>
    public Generator? Generator => _generator;

    /// <summary>The loss of a batch. <paramref name="nontiedMask"/> ([B] bool) is used by bt, btt and margin.</summary>
    public Tensor Compute(Tensor outA, Tensor outB, Tensor? nontiedMask = null)
    {
        ArgumentNullException.ThrowIfNull(outA);
        ArgumentNullException.ThrowIfNull(outB);
        using var scope = NewDisposeScope();
        var muA = outA[.., 0];
        var lsA = outA[.., 1];
        var muB = outB[.., 0];
        var lsB = outB[.., 1];
        var loss = Kind switch
        {
            LossKind.Uncertainty => PairLosses.Uncertainty(muA, lsA, muB, lsB),
            LossKind.UncertaintyMonteCarlo => UncertaintyMc(muA, lsA, muB, lsB),
            LossKind.BradleyTerry => PairLosses.BradleyTerry(muA, muB, nontiedMask),
            LossKind.BradleyTerryWithTies => PairLosses.BradleyTerryWithTies(muA, muB, nontiedMask),
            LossKind.ConstantMargin => PairLosses.ConstantMargin(muA, muB, nontiedMask),
            LossKind.Hpsv2 => PairLosses.Hpsv2(muA, muB),
            _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown loss"),
        };
        return loss.MoveToOuterDisposeScope();
    }

    private Tensor UncertaintyMc(Tensor muA, Tensor lsA, Tensor muB, Tensor lsB)
    {
        // The generator draws on the CPU; move the head outputs there for the draw when they live elsewhere.
        if (muA.device.type == DeviceType.CPU)
        {
            return PairLosses.UncertaintyMonteCarlo(muA, lsA, muB, lsB, _generator, Samples, RoundSamplesToHalf);
        }

        var dev = muA.device;
        return PairLosses.UncertaintyMonteCarlo(muA.cpu(), lsA.cpu(), muB.cpu(), lsB.cpu(), _generator, Samples, RoundSamplesToHalf).to(dev);
    }

    /// <summary>The one spelling of the losses: uncertainty, uncertainty-mc, bt, btt, margin, hpsv2.</summary>
    public static EnumSpelling<LossKind> Spelling { get; } = new("Loss",
        (LossKind.Uncertainty, ["uncertainty"]),
        (LossKind.UncertaintyMonteCarlo, ["uncertainty-mc"]),
        (LossKind.BradleyTerry, ["bt"]),
        (LossKind.BradleyTerryWithTies, ["btt"]),
        (LossKind.ConstantMargin, ["margin", "constant_margin", "constant-margin"]),
        (LossKind.Hpsv2, ["hpsv2"]));

    /// <summary>Parses a loss name; an unknown one names the <c>Loss</c> field.</summary>
    public static LossKind Parse(string name) => Spelling.Parse(name);

    /// <summary>The name of a kind.</summary>
    public static string Name(LossKind kind) => Spelling.Name(kind);

    public void Dispose() => _generator?.Dispose();
}

internal sealed class LossKindTypeConverter() : SpellingTypeConverter<LossKind>(PairLoss.Spelling);

internal sealed class LossKindJsonConverter() : SpellingJsonConverter<LossKind>(PairLoss.Spelling);
