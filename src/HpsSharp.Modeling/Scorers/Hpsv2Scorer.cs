using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text.Clip;
using HpsSharp.Modeling.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Scorers;

/// <summary>
/// HPSv2 / HPSv2.1 (SCORERS.md §3): open_clip ViT-H/14 from the <c>torch.save</c> checkpoint, the fork's
/// <c>ResizeMaxSize</c> + pad transform (antialias by default, <see cref="Antialias"/> = false for the authors' 2023
/// torchvision), open_clip tokenizer padded with 0, <c>score = cos(image, text)</c> (the benchmark tables show ×100).
/// </summary>
public sealed class Hpsv2Scorer : ClipPairScorer
{
    internal Hpsv2Scorer(ClipModel model, ClipTokenizer tokenizer, ModelInfo info, bool antialias)
        : base(model, tokenizer, info) => Antialias = antialias;

    /// <summary>Whether the resize antialiases (torchvision ≥ 0.17, the default) or not (≤ 0.16).</summary>
    public bool Antialias { get; }

    internal override Tensor Forward(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        int size = Clip.Config.ImageSize;
        var pixels = stack(images.Select(i => Hpsv2Transform.Preprocess(i, size, Antialias)).ToList());
        trace?.Add("pixel_values", pixels);
        var ids = stack(prompts.Select(p => tensor(Tokenizer.EncodePadded(p, ClipTokenizerFlavor.OpenClip, Clip.Config.ContextLength))).ToList());
        trace?.Add("input_ids", ids);
        var scores = Cosine(Clip, pixels, ids, trace);
        trace?.Add("scores", scores);
        return scores;
    }
}
