using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Blip;

/// <summary>
/// med.py's <c>BertAttention</c> (self or cross): <c>self.{query,key,value}</c> (key/value read a kvWidth-wide
/// memory for cross-attention), scores / √d + additive mask, then <c>output.dense</c> and the residual <c>output.LayerNorm</c>.
/// </summary>
internal sealed class BertAttention : nn.Module<Tensor, Tensor, Tensor?, Tensor>
{
    public readonly Linear query;
    public readonly Linear key;
    public readonly Linear value;
    public readonly Linear dense;
    public readonly LayerNorm layer_norm;
    private readonly int _heads;

    public BertAttention(string name, BertConfig cfg, long kvWidth, WeightSource weights)
        : base(name)
    {
        long h = cfg.Hidden;
        query = new Linear(name + ".self.query", h, h, true, weights);
        key = new Linear(name + ".self.key", kvWidth, h, true, weights);
        value = new Linear(name + ".self.value", kvWidth, h, true, weights);
        dense = new Linear(name + ".output.dense", h, h, true, weights);
        layer_norm = new LayerNorm(name + ".output.LayerNorm", h, cfg.LayerNormEps, weights);
        _heads = cfg.Heads;
        RegisterComponents();
    }

    /// <summary><paramref name="x"/> [B, L, H] queries; <paramref name="memory"/> keys/values; <paramref name="mask"/> additive [B, 1, 1, Lk] or null.</summary>
    public override Tensor forward(Tensor x, Tensor memory, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1], h = x.shape[2], d = h / _heads, lk = memory.shape[1];
        var q = query.forward(x).view(b, l, _heads, d).permute(0, 2, 1, 3);
        var k = key.forward(memory).view(b, lk, _heads, d).permute(0, 2, 1, 3);
        var v = value.forward(memory).view(b, lk, _heads, d).permute(0, 2, 1, 3);
        var scores = matmul(q, k.transpose(-1, -2)).div(Math.Sqrt(d));
        if (mask is not null)
        {
            scores = scores.add(mask);
        }

        var ctx = matmul(scores.softmax(-1), v).permute(0, 2, 1, 3).reshape(b, l, h);
        return layer_norm.forward(dense.forward(ctx).add(x)).MoveToOuterDisposeScope();
    }
}
