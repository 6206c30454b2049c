using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Clip;

/// <summary>
/// One pre-LN block: <c>x += attn(LN1(x))</c>, <c>x += mlp(LN2(x))</c>. HF: <c>layer_norm1</c>, <c>self_attn</c>,
/// <c>layer_norm2</c>, <c>mlp</c>; open_clip: <c>ln_1</c>, <c>attn</c>, <c>ln_2</c>, <c>mlp</c>.
/// </summary>
internal sealed class ClipEncoderLayer : nn.Module<Tensor, Tensor?, Tensor>
{
    public readonly LayerNorm norm1;
    public readonly ClipAttention attn;
    public readonly LayerNorm norm2;
    public readonly ClipMlp mlp;

    public ClipEncoderLayer(string name, ClipTowerConfig cfg, ClipLayout layout, WeightSource weights)
        : base(name)
    {
        bool hf = layout == ClipLayout.HuggingFace;
        norm1 = new LayerNorm(name + (hf ? ".layer_norm1" : ".ln_1"), cfg.Width, cfg.LayerNormEps, weights);
        attn = new ClipAttention(name + (hf ? ".self_attn" : ".attn"), cfg.Width, cfg.Heads, layout, weights);
        norm2 = new LayerNorm(name + (hf ? ".layer_norm2" : ".ln_2"), cfg.Width, cfg.LayerNormEps, weights);
        mlp = new ClipMlp(name + ".mlp", cfg.Width, cfg.Intermediate, cfg.Activation, layout, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var h = x.add(attn.forward(norm1.forward(x), mask));
        return h.add(mlp.forward(norm2.forward(h))).MoveToOuterDisposeScope();
    }
}
