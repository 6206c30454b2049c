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
public sealed class PickScoreScorer : ClipFamilyScorer
{
    private readonly ClipModel _model;
    private readonly ClipTokenizer _tokenizer;

    internal PickScoreScorer(ClipModel model, ClipTokenizer tokenizer, ModelInfo info)
    {
        _model = model;
        _tokenizer = tokenizer;
        Model = info;
    }

    /// <inheritdoc/>
    public override ModelInfo Model { get; }

    /// <summary>Softmax over the scores of one prompt's candidate images.</summary>
    public static double[] Probabilities(IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        double max = scores.Max();
        var e = scores.Select(s => Math.Exp(s - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

    internal override float[] Compute(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int size = _model.Config.ImageSize;
        var pixels = StackPixels(images.Select(i => ClipImageProcessor.Preprocess(i, size, ClipPipeline.HuggingFace)), size);
        trace?.Add("pixel_values", pixels);
        var (ids, mask) = PadBatch(prompts.Select(p => _tokenizer.Encode(p, ClipTokenizerFlavor.HuggingFaceFast, _model.Config.ContextLength)).ToList(), ClipTokenizer.EotId);
        trace?.Add("input_ids", ids);
        trace?.Add("attention_mask", mask);

        // Causal mask only: padding sits after the EOT, so it never reaches the pooled state (SCORERS.md §1.4); the
        // goldens' states at the pad positions are computed this way too.
        var img = ClipModel.Normalize(_model.vision.Forward(pixels, trace));
        var txt = ClipModel.Normalize(_model.text!.Forward(ids, null, trace));
        trace?.Add("image_embeds_normalized", img);
        trace?.Add("text_embeds_normalized", txt);
        var scale = _model.logit_scale!.exp();
        trace?.Add("logit_scale_exp", scale.reshape(1));
        var scores = img.mul(txt).sum(-1).mul(scale);
        trace?.Add("scores", scores);
        return scores.data<float>().ToArray();
    }

    protected override void DisposeModel() => _model.Dispose();
}
