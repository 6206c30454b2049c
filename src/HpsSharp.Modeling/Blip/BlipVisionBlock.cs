using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Blip;

/// <summary>timm ViT block (<c>vit.py:85-106</c>): <c>x += proj(attn(norm1(x)))</c> with packed <c>attn.qkv</c>, <c>x += fc2(gelu(fc1(norm2(x))))</c>.</summary>
internal sealed class BlipVisionBlock : nn.Module<Tensor, Tensor>
{
    public readonly LayerNorm norm1;
    public readonly Linear qkv;
    public readonly Linear proj;
    public readonly LayerNorm norm2;
    public readonly Linear fc1;
    public readonly Linear fc2;
    private readonly int _heads;

    public BlipVisionBlock(string name, BlipVisionConfig cfg, WeightSource weights)
        : base(name)
    {
        long w = cfg.Width;
        norm1 = new LayerNorm(name + ".norm1", w, cfg.LayerNormEps, weights);
        qkv = new Linear(name + ".attn.qkv", w, 3 * w, true, weights);
        proj = new Linear(name + ".attn.proj", w, w, true, weights);
        norm2 = new LayerNorm(name + ".norm2", w, cfg.LayerNormEps, weights);
        fc1 = new Linear(name + ".mlp.fc1", w, (long)(w * cfg.MlpRatio), true, weights);
        fc2 = new Linear(name + ".mlp.fc2", (long)(w * cfg.MlpRatio), w, true, weights);
        _heads = cfg.Heads;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], n = x.shape[1], w = x.shape[2], d = w / _heads;
        var parts = qkv.forward(norm1.forward(x)).reshape(b, n, 3, _heads, d).permute(2, 0, 3, 1, 4);
        var (q, k, v) = (parts[0], parts[1], parts[2]);
        var attn = matmul(q, k.transpose(-2, -1)).mul(Math.Pow(d, -0.5)).softmax(-1);
        var h = x.add(proj.forward(matmul(attn, v).transpose(1, 2).reshape(b, n, w)));
        return h.add(fc2.forward(nn.functional.gelu(fc1.forward(norm2.forward(h))))).MoveToOuterDisposeScope();
    }
}
