using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Vision;

// Python counterpart: modeling_qwen2_vl.py `PatchMerger` (4.45).

/// <summary>
/// LayerNorm, then the 4 patches of each 2×2 block concatenated ([N, E] → [N/4, 4E]), then Linear → GELU (erf) →
/// Linear to the decoder width. Submodules <c>mlp.0</c> and <c>mlp.2</c> keep the checkpoint's Sequential indices.
/// </summary>
internal sealed class PatchMerger : nn.Module<Tensor, Tensor>
{
    public readonly LayerNorm ln_q;
    public readonly MergerMlp mlp;
    private readonly long _merged;

    public PatchMerger(string name, Qwen2VLVisionConfig config, WeightSource weights)
        : base(name)
    {
        _merged = (long)config.EmbedDim * config.SpatialMergeSize * config.SpatialMergeSize;
        ln_q = new LayerNorm(name + ".ln_q", config.EmbedDim, 1e-6, weights);
        mlp = new MergerMlp(name + ".mlp", _merged, config.HiddenSize, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = ln_q.forward(x).view(-1, _merged);      // [N, E] -> [N/4, 4E]
        return mlp.forward(y).MoveToOuterDisposeScope();
    }
}

/// <summary>Sequential(Linear [0], GELU [1], Linear [2]).</summary>
internal sealed class MergerMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear _fc0;
    private readonly Linear _fc2;

    public MergerMlp(string name, long merged, long outDim, WeightSource weights)
        : base(name)
    {
        _fc0 = new Linear(name + ".0", merged, merged, true, weights);
        _fc2 = new Linear(name + ".2", merged, outDim, true, weights);
        register_module("0", _fc0);
        register_module("2", _fc2);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.gelu(_fc0.forward(x));
        return _fc2.forward(h).MoveToOuterDisposeScope();
    }
}
