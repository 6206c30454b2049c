using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text.Bert;
using HpsSharp.Modeling.Blip;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Scorers;

/// <summary>
/// ImageReward v1.0 (IMAGEREWARD.md): BLIP ViT image tokens, a BERT text encoder cross-attending to them, the [CLS]
/// state through an affine 5-layer MLP, then <c>(x − 0.16717362830052426) / 1.0333394966054072</c>. Images go through
/// the OpenAI CLIP preprocessing; palette and RGBA images are converted to RGB before the resize here, where the
/// original resizes them in their own mode (Pillow: NEAREST for P, premultiplied for RGBA).
/// </summary>
public sealed class ImageRewardScorer : ClipFamilyScorer
{
    /// <summary>The released normalisation mean.</summary>
    public const double Mean = 0.16717362830052426;

    /// <summary>The released normalisation standard deviation.</summary>
    public const double Std = 1.0333394966054072;

    /// <summary>The prompt length after padding/truncation.</summary>
    public const int MaxLength = 35;

    private readonly BlipVisionTransformer _vision;
    private readonly BertTextEncoder _text;
    private readonly AestheticMlp _mlp;
    private readonly BertTokenizer _tokenizer;
    private readonly int _imageSize;

    internal ImageRewardScorer(BlipVisionTransformer vision, BertTextEncoder text, AestheticMlp mlp, BertTokenizer tokenizer, int imageSize, ModelInfo info)
        : base(info, vision, text, mlp)
    {
        _vision = vision;
        _text = text;
        _mlp = mlp;
        _tokenizer = tokenizer;
        _imageSize = imageSize;
    }

    internal override Tensor Forward(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        var pixels = StackPixels(images.Select(i => ClipImageProcessor.Preprocess(i, _imageSize, ClipPipeline.OpenAI)), _imageSize);
        trace?.Add("pixel_values", pixels);
        var encoded = prompts.Select(p => _tokenizer.Encode(p, MaxLength)).ToList();
        var ids = tensor(encoded.SelectMany(e => e.Ids).ToArray(), [prompts.Count, MaxLength]);
        var mask = tensor(encoded.SelectMany(e => e.Mask).ToArray(), [prompts.Count, MaxLength]);
        trace?.Add("input_ids", ids);
        trace?.Add("attention_mask", mask);
        var image = _vision.Forward(pixels, trace);
        var cls = _text.Forward(ids, mask, image, trace);
        var mlp = _mlp.Forward(cls, null);
        trace?.Add("mlp_out", mlp);
        var reward = mlp.sub(Mean).div(Std).reshape(-1);
        trace?.Add("reward", reward);
        trace?.Add("scores", reward);
        return reward;
    }
}
