namespace HpsSharp.Modeling.Lora;

/// <summary>
/// A LoRA configuration as PEFT's <c>LoraConfig</c> states it. Defaults are HPSv3's <c>PEFTLoraConfig</c>
/// (<c>lora_r 16</c>, <c>lora_alpha 32</c>, <c>lora_dropout 0.05</c>, <c>use_rslora False</c>).
/// </summary>
/// <param name="R">Rank of every adapter.</param>
/// <param name="Alpha">lora_alpha; the update is scaled by α/r (α/√r with <paramref name="UseRsLora"/>).</param>
/// <param name="Dropout">Dropout on each adapter's input while training.</param>
/// <param name="TargetModules">Full module names of the adapted Linear layers (as HPSv3's <c>find_target_linear_names</c> lists them).</param>
/// <param name="UseRsLora">Rank-stabilised scaling.</param>
public sealed record LoraSettings(int R, double Alpha, double Dropout, IReadOnlyList<string> TargetModules, bool UseRsLora = false)
{
    /// <summary>HPSv3's default rank.</summary>
    public const int DefaultR = 16;

    /// <summary>HPSv3's default lora_alpha.</summary>
    public const double DefaultAlpha = 32;

    /// <summary>HPSv3's default lora_dropout.</summary>
    public const double DefaultDropout = 0.05;

    /// <summary>The factor of B·A.</summary>
    public double Scaling => UseRsLora ? Alpha / Math.Sqrt(R) : Alpha / R;

    /// <summary>Checks the numbers; throws <see cref="Core.UserInputException"/> naming the bad one by the fields a LoRA run is configured with (LoraR, LoraAlpha, LoraDropout, LoraTargets).</summary>
    public void Validate()
    {
        if (R < 1)
        {
            throw Core.UserInputException.ForOption("LoraR", $"must be ≥ 1 (got {R})");
        }

        if (!(Alpha > 0) || double.IsInfinity(Alpha))
        {
            throw Core.UserInputException.ForOption("LoraAlpha", $"must be a finite number > 0 (got {Alpha})");
        }

        if (!(Dropout >= 0 && Dropout < 1))
        {
            throw Core.UserInputException.ForOption("LoraDropout", $"must lie in [0, 1) (got {Dropout})");
        }

        if (TargetModules.Count == 0)
        {
            throw Core.UserInputException.ForOption("LoraTargets", $"selects no layer");
        }
    }
}
