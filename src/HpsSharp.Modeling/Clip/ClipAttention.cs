using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Clip;

/// <summary>
/// CLIP's multi-head self-attention with biased q, k, v and output projections, scale <c>head_dim^-0.5</c>. HF names
/// it <c>self_attn.{q,k,v,out}_proj</c>; open_clip packs q|k|v rows in <c>attn.in_proj_weight</c>/<c>in_proj_bias</c>
/// (nn.MultiheadAttention) beside <c>attn.out_proj</c>.
/// </summary>
internal sealed class ClipAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    public readonly Linear? q_proj;
    public readonly Linear? k_proj;
    public readonly Linear? v_proj;
    public readonly Parameter? in_proj_weight;
    public readonly Parameter? in_proj_bias;
    public readonly Linear out_proj;
    private readonly int _heads;

    public ClipAttention(string name, long width, int heads, ClipLayout layout, WeightSource weights)
        : base(name)
    {
        _heads = heads;
        if (layout == ClipLayout.HuggingFace)
        {
            q_proj = new Linear(name + ".q_proj", width, width, true, weights);
            k_proj = new Linear(name + ".k_proj", width, width, true, weights);
            v_proj = new Linear(name + ".v_proj", width, width, true, weights);
        }
        else
        {
            in_proj_weight = weights.Get(name + ".in_proj_weight", [3 * width, width], ParameterPrecision.Model);
            in_proj_bias = weights.Get(name + ".in_proj_bias", [3 * width], ParameterPrecision.Model);
        }

        out_proj = new Linear(name + ".out_proj", width, width, true, weights);
        RegisterComponents();
    }

    /// <summary>x [B, L, W]; <paramref name="mask"/> additive [B or 1, 1, L, L] or null.</summary>
    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1], w = x.shape[2];
        Tensor q, k, v;
        if (in_proj_weight is not null)
        {
            var qkv = nn.functional.linear(x, in_proj_weight, in_proj_bias).chunk(3, -1);
            (q, k, v) = (qkv[0], qkv[1], qkv[2]);
        }
        else
        {
            (q, k, v) = (q_proj!.forward(x), k_proj!.forward(x), v_proj!.forward(x));
        }

        long d = w / _heads;
        q = q.view(b, l, _heads, d).transpose(1, 2);
        k = k.view(b, l, _heads, d).transpose(1, 2);
        v = v.view(b, l, _heads, d).transpose(1, 2);
        var scores = matmul(q, k.transpose(-1, -2)).mul(Math.Pow(d, -0.5));
        if (mask is not null)
        {
            scores = scores.add(mask);
        }

        var attn = matmul(scores.softmax(-1), v).transpose(1, 2).reshape(b, l, w);
        return out_proj.forward(attn).MoveToOuterDisposeScope();
    }
}
