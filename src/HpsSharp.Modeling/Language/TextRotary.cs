using HpsSharp.Modeling.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Language;

// Python counterpart: modeling_qwen2_vl.py `Qwen2VLRotaryEmbedding`, `apply_multimodal_rotary_pos_emb` (4.45).

/// <summary>
/// Decoder RoPE with HPSv3's sequential positions 0..L−1 in every M-RoPE section, which is plain 1-D RoPE
/// (docs/model.md#the-hpsv3-forward, quirk Q1). In bf16 the inverse frequencies are the bf16-rounded buffer of
/// <c>model.to(bfloat16)</c>, upcast; angles, cos and sin in fp32, then cast to the activation dtype.
/// </summary>
internal static class TextRotary
{
    public static (Tensor Cos, Tensor Sin, Tensor InvFreq) Build(long length, int headDim, double theta, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var invFreq = Rotary.InverseFrequencies(headDim, theta, dtype, device);        // [head_dim/2]
        var positions = arange(length, dtype: ScalarType.Float32, device: device);            // [L]
        var freqs = outer(positions, invFreq.to(ScalarType.Float32));                          // [L, head_dim/2]
        var emb = cat([freqs, freqs], -1);                                                     // [L, head_dim]
        var cos = emb.cos().to(dtype);
        var sin = emb.sin().to(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope(), invFreq.MoveToOuterDisposeScope());
    }

    /// <summary>x·cos + rotate_half(x)·sin in the activation dtype: x [B, heads, L, d], cos/sin [L, d].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        return ((x * cos) + (Rotary.RotateHalf(x) * sin)).MoveToOuterDisposeScope();
    }
}
