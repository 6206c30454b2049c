using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Language;

// Python counterpart: modeling_qwen2_vl.py `Qwen2VLDecoderLayer`, `Qwen2VLAttention`/`Qwen2VLSdpaAttention`, `Qwen2MLP` (4.45).

/// <summary>What every decoder layer needs besides its input: RoPE tables and the attention mask.</summary>
/// <param name="Cos">[L, head_dim] in the activation dtype.</param>
/// <param name="Sin">[L, head_dim] in the activation dtype.</param>
/// <param name="Mask">Additive mask [B, 1, L, L] when some sequence is not right-padded; null = plain causal.</param>
internal sealed record DecoderContext(Tensor Cos, Tensor Sin, Tensor? Mask);

/// <summary>Pre-norm decoder layer: h = x + attn(input_layernorm(x)); out = h + mlp(post_attention_layernorm(h)).</summary>
internal sealed class Qwen2DecoderLayer : nn.Module<Tensor, DecoderContext, Tensor>
{
    public readonly Qwen2Attention self_attn;
    public readonly Qwen2Mlp mlp;
    public readonly RmsNorm input_layernorm;
    public readonly RmsNorm post_attention_layernorm;

    public Qwen2DecoderLayer(string name, Qwen2VLConfig config, WeightSource weights)
        : base(name)
    {
        self_attn = new Qwen2Attention(name + ".self_attn", config, weights);
        mlp = new Qwen2Mlp(name + ".mlp", config, weights);
        input_layernorm = new RmsNorm(name + ".input_layernorm", config.HiddenSize, config.RmsNormEps, weights);
        post_attention_layernorm = new RmsNorm(name + ".post_attention_layernorm", config.HiddenSize, config.RmsNormEps, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, DecoderContext context)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.forward(input_layernorm.forward(x), context);
        var y = h + mlp.forward(post_attention_layernorm.forward(h));
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Causal GQA self-attention with q/k/v bias and no o bias; query head i reads kv head i div (heads/kv_heads).
/// Scaled-dot-product attention (fused kernel) instead of HF's eager matmul/softmax: identical in fp32, within the
/// fixtures' bf16 tolerance otherwise.
/// </summary>
internal sealed class Qwen2Attention : nn.Module<Tensor, DecoderContext, Tensor>
{
    public readonly Linear q_proj;
    public readonly Linear k_proj;
    public readonly Linear v_proj;
    public readonly Linear o_proj;
    private readonly long _heads;
    private readonly long _kvHeads;
    private readonly long _headDim;

    public Qwen2Attention(string name, Qwen2VLConfig config, WeightSource weights)
        : base(name)
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKeyValueHeads;
        _headDim = config.HeadDim;
        long h = config.HiddenSize, kv = _kvHeads * _headDim;
        q_proj = new Linear(name + ".q_proj", h, h, true, weights);
        k_proj = new Linear(name + ".k_proj", h, kv, true, weights);
        v_proj = new Linear(name + ".v_proj", h, kv, true, weights);
        o_proj = new Linear(name + ".o_proj", h, h, false, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, DecoderContext context)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1];
        var q = q_proj.forward(x).view(b, l, _heads, _headDim).transpose(1, 2);     // [B, L, H] -> [B, heads, L, d]
        var k = k_proj.forward(x).view(b, l, _kvHeads, _headDim).transpose(1, 2);   // [B, L, KV] -> [B, kv, L, d]
        var v = v_proj.forward(x).view(b, l, _kvHeads, _headDim).transpose(1, 2);
        q = TextRotary.Apply(q, context.Cos, context.Sin);
        k = TextRotary.Apply(k, context.Cos, context.Sin);
        long group = _heads / _kvHeads;
        if (group > 1)
        {
            k = k.repeat_interleave(group, 1);                                         // [B, kv, L, d] -> [B, heads, L, d]
            v = v.repeat_interleave(group, 1);
        }

        var o = context.Mask is null
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
            : nn.functional.scaled_dot_product_attention(q, k, v, context.Mask);
        o = o.transpose(1, 2).reshape(b, l, _heads * _headDim);                       // [B, heads, L, d] -> [B, L, H]
        return o_proj.forward(o).MoveToOuterDisposeScope();
    }
}

/// <summary>down_proj(silu(gate_proj(x)) ⊙ up_proj(x)), no biases.</summary>
internal sealed class Qwen2Mlp : nn.Module<Tensor, Tensor>
{
    public readonly Linear gate_proj;
    public readonly Linear up_proj;
    public readonly Linear down_proj;

    public Qwen2Mlp(string name, Qwen2VLConfig config, WeightSource weights)
        : base(name)
    {
        gate_proj = new Linear(name + ".gate_proj", config.HiddenSize, config.IntermediateSize, false, weights);
        up_proj = new Linear(name + ".up_proj", config.HiddenSize, config.IntermediateSize, false, weights);
        down_proj = new Linear(name + ".down_proj", config.IntermediateSize, config.HiddenSize, false, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x);
        return down_proj.forward(h).MoveToOuterDisposeScope();
    }
}
