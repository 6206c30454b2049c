using HpsSharp.Core.Scoring;

namespace HpsSharp.Modeling.Scoring;

/// <summary>One request turned into model inputs: token ids (with image pads and <c>&lt;|Reward|&gt;</c>) and patches.</summary>
/// <param name="InputIds">The full HPSv3 chat sequence.</param>
/// <param name="RewardIndex">Position of <c>&lt;|Reward|&gt;</c> in <paramref name="InputIds"/>.</param>
/// <param name="PixelValues">[rows, 1176] row-major fp32 patches.</param>
/// <param name="GridT">Temporal patches (1 for an image).</param>
/// <param name="GridH">Patch rows.</param>
/// <param name="GridW">Patch columns.</param>
internal sealed record PreparedItem(int[] InputIds, int RewardIndex, float[] PixelValues, int GridT, int GridH, int GridW)
{
    /// <summary>Tokens the model actually runs (the sequence stops at the reward token).</summary>
    public int UsedLength => RewardIndex + 1;
}

/// <summary>Turns a (prompt, image) request into model inputs; throws for a bad item (it becomes a per-item error).</summary>
internal interface IScoringPreprocessor
{
    PreparedItem Prepare(ScoreRequest request);
}
