using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text.Clip;
using HpsSharp.Modeling.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Scorers;

/// <summary>
/// PickScore (SCORERS.md §2): HF <c>CLIPModel</c> ViT-H/14, HF image processor, HF fast tokenizer,
/// <c>score = exp(logit_scale)·cos(text, image)</c> for each (prompt, image) pair. <see cref="Probabilities"/> is the
/// README's softmax over the images of one prompt.
/// </summary>
public sealed class PickScoreScorer : ClipPairScorer
{
    internal PickScoreScorer(ClipModel model, ClipTokenizer tokenizer, ModelInfo info)
        : base(model, tokenizer, info)
    {
    }

    /// <summary>Softmax over the scores of one prompt's candidate images.</summary>
    public static double[] Probabilities(IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        double max = scores.Max();
        var e = scores.Select(s => Math.Exp(s - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

    internal override Tensor Forward(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        var (pixels, ids) = HuggingFaceInputs(Clip, Tokenizer, prompts, images, trace);
        var cos = Cosine(Clip, pixels, ids, trace);
        var scale = Clip.logit_scale!.exp();
        trace?.Add("logit_scale_exp", scale.reshape(1));
        var scores = cos.mul(scale);
        trace?.Add("scores", scores);
        return scores;
    }
}
