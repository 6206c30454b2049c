using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

// Python counterpart: modeling_qwen2_vl.py `rotate_half` and the `inv_freq` of `Qwen2VLRotaryEmbedding` /
// `VisionRotaryEmbedding` (4.45); the same two pieces serve any RoPE tower.

/// <summary>The pieces every rotary position embedding shares: the inverse frequencies and <c>rotate_half</c>.</summary>
internal static class Rotary
{
    /// <summary><c>1 / theta^(arange(0, dim, 2) / dim)</c> in fp32, then rounded to <paramref name="dtype"/>.</summary>
    public static Tensor InverseFrequencies(int dim, double theta, ScalarType dtype, Device device)
    {
        using var scope = NewDisposeScope();
        var exponent = arange(0, dim, 2, dtype: ScalarType.Float32, device: device) / dim;
        var inv = full([dim / 2], theta, dtype: ScalarType.Float32, device: device).pow(exponent).reciprocal();
        return inv.to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>concat(−x[half:], x[:half]) on the last dimension.</summary>
    public static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        using var scope = NewDisposeScope();
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        return cat([x2.neg(), x1], -1).MoveToOuterDisposeScope();
    }
}
