using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Modeling.Clip;
using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Scorers;

/// <summary>
/// The LAION improved aesthetic predictor v2 (SCORERS.md §4): CLIP ViT-L/14 image embedding (OpenAI preprocessing),
/// L2-normalised (a zero norm counts as 1), then five Linear layers with no activation between them. The prompt is
/// not used.
/// </summary>
public sealed class AestheticScorer : ClipFamilyScorer
{
    private readonly ClipModel _clip;
    private readonly AestheticMlp _mlp;

    internal AestheticScorer(ClipModel clip, AestheticMlp mlp, ModelInfo info)
        : base(info, clip, mlp)
    {
        _clip = clip;
        _mlp = mlp;
    }

    internal override Tensor Forward(IReadOnlyList<string> prompts, IReadOnlyList<RgbImage> images, ForwardTrace? trace)
    {
        int size = _clip.Config.ImageSize;
        var pixels = StackPixels(images.Select(i => ClipImageProcessor.Preprocess(i, size, ClipPipeline.OpenAI)), size);
        trace?.Add("pixel_values", pixels);
        var e = _clip.vision.Forward(pixels, trace);
        var norm = e.norm(1, keepdim: true);
        var x = e.div(where(norm.eq(0), ones_like(norm), norm));
        trace?.Add("image_embeds_normalized", x);
        var scores = _mlp.Forward(x, trace).reshape(-1);
        trace?.Add("scores", scores);
        return scores;
    }
}

/// <summary>
/// The predictor's <c>nn.Sequential</c>: Linear layers at indices 0, 2, 4, 6, 7 (dropouts between, inert at eval; the
/// ReLUs are commented out in the original). ImageReward's head is the same module under <c>mlp.layers</c>.
/// </summary>
internal sealed class AestheticMlp : nn.Module<Tensor, Tensor>
{
    public static readonly int[] LinearIndices = [0, 2, 4, 6, 7];

    private readonly TorchSharp.Modules.ModuleList<Linear> _layers;

    public AestheticMlp(IReadOnlyList<(long In, long Out)> widths, WeightSource weights, string prefix = "layers")
        : base(prefix)
    {
        _layers = new TorchSharp.Modules.ModuleList<Linear>(LinearIndices.Select((idx, i) => new Linear($"{prefix}.{idx}", widths[i].In, widths[i].Out, true, weights)).ToArray());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        for (int i = 0; i < _layers.Count; i++)
        {
            x = _layers[i].forward(x);
            trace?.Add($"mlp_layer{LinearIndices[i]}_out", x);
        }

        return x.MoveToOuterDisposeScope();
    }
}
