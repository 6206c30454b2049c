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
public sealed class Hpsv2Scorer : ClipFamilyScorer
{
    private readonly ClipModel _model;
    private readonly ClipTokenizer _tokenizer;

    internal Hpsv2Scorer(ClipModel model, ClipTokenizer tokenizer, ModelInfo info, bool antialias)
    {
        _model = model;
        _tokenizer = tokenizer;
        Model = info;
        Antialias = antialias;
    }

    /// <inheritdoc/>
    public override ModelInfo Model { get; }

    /// <summary>Whether the resize antialiases (torchvision ≥ 0.17, the default) or not (≤ 0.16).</summary>
    public bool Antialias { get; }

    internal override float[] Compute(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int size = _model.Config.ImageSize;
        var pixels = stack(images.Select(i => Hpsv2Transform.Preprocess(i, size, Antialias)).ToList());
        trace?.Add("pixel_values", pixels);
        var ids = stack(prompts.Select(p => tensor(_tokenizer.EncodePadded(p, ClipTokenizerFlavor.OpenClip, _model.Config.ContextLength))).ToList());
        trace?.Add("input_ids", ids);
        var scores = Cosine(_model, pixels, ids, trace);
        trace?.Add("scores", scores);
        return scores.data<float>().ToArray();
    }

    protected override void DisposeModel() => _model.Dispose();
}
