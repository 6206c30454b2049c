using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text.Clip;
using HpsSharp.Modeling.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Scorers;

/// <summary>
/// CLIPScore (Hessel et al. 2021; SCORERS.md §5) on HF <c>openai/clip-vit-large-patch14</c>: HF image processor and
/// fast tokenizer, <c>score = 2.5·max(cos, 0)</c>. No caption prefix unless <see cref="Prefix"/> is set (Hessel's
/// script uses <c>"A photo depicts "</c>).
/// </summary>
public sealed class ClipScoreScorer : ClipPairScorer
{
    /// <summary>Hessel's reference-code caption prefix.</summary>
    public const string HesselPrefix = "A photo depicts ";

    internal ClipScoreScorer(ClipModel model, ClipTokenizer tokenizer, ModelInfo info, string prefix)
        : base(model, tokenizer, info) => Prefix = prefix;

    /// <summary>Text put before every prompt (empty by default).</summary>
    public string Prefix { get; }

    internal override Tensor Forward(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        var (pixels, ids) = HuggingFaceInputs(Clip, Tokenizer, prompts.Select(p => Prefix + p), images, trace);
        var cos = Cosine(Clip, pixels, ids, trace);
        trace?.Add("cos", cos);
        var scores = cos.clamp_min(0).mul(2.5);
        trace?.Add("scores", scores);
        return scores;
    }
}
