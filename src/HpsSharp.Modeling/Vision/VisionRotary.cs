using HpsSharp.Modeling.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Vision;

// Python counterpart: modeling_qwen2_vl.py `VisionRotaryEmbedding`, `Qwen2VisionTransformerPretrainedModel.rot_pos_emb`,
// `apply_rotary_pos_emb_vision` (4.45).

/// <summary>The 2-D rotary tables of the vision tower, in patch (merge) order.</summary>
internal sealed record VisionRotaryTables(Tensor Cos, Tensor Sin, Tensor InvFreq) : IDisposable
{
    public void Dispose()
    {
        Cos.Dispose();
        Sin.Dispose();
        InvFreq.Dispose();
    }
}

internal static class VisionRotary
{
    /// <summary>
    /// cos/sin [N, head_dim] in fp32 for the patches of the images in <paramref name="grids"/> (t, h, w each).
    /// With <paramref name="dtype"/> bf16 this reproduces <c>model.to(bfloat16)</c>: inv_freq rounded to bf16, the
    /// table <c>outer(arange(max_grid), inv_freq)</c> computed in bf16, and cos/sin of it rounded to bf16.
    /// </summary>
    public static VisionRotaryTables Build(IReadOnlyList<(int T, int H, int W)> grids, int headDim, int mergeSize, ScalarType dtype, Device device, double theta = 10000.0)
    {
        int dim = headDim / 2;                    // VisionRotaryEmbedding(head_dim // 2)
        int n = 0, maxGrid = 0;
        foreach (var (t, h, w) in grids)
        {
            n += t * h * w;
            maxGrid = Math.Max(maxGrid, Math.Max(h, w));
        }

        // Patch order: 2×2 merge blocks row-major, the four patches of a block consecutive (docs/model.md#backbone).
        var rows = new long[n];
        var cols = new long[n];
        int k = 0;
        foreach (var (t, h, w) in grids)
        {
            for (int rep = 0; rep < t; rep++)
            {
                for (int br = 0; br < h / mergeSize; br++)
                {
                    for (int bc = 0; bc < w / mergeSize; bc++)
                    {
                        for (int mr = 0; mr < mergeSize; mr++)
                        {
                            for (int mc = 0; mc < mergeSize; mc++)
                            {
                                rows[k] = br * mergeSize + mr;
                                cols[k] = bc * mergeSize + mc;
                                k++;
                            }
                        }
                    }
                }
            }
        }

        using var scope = NewDisposeScope();
        var invFreq = Rotary.InverseFrequencies(dim, theta, dtype, device);                    // [dim/2]
        var seq = arange(maxGrid, dtype: invFreq.dtype, device: device);                // [max_grid]
        var freqs = outer(seq, invFreq);                                                 // [max_grid, dim/2] in bf16 when bf16
        var rowIdx = tensor(rows, device: device);
        var colIdx = tensor(cols, device: device);
        var emb = cat([freqs.index_select(0, rowIdx), freqs.index_select(0, colIdx)], 1);  // [N, dim]
        var cos = emb.cos().to(ScalarType.Float32);
        var sin = emb.sin().to(ScalarType.Float32);
        cos = cat([cos, cos], 1);                                                        // [N, dim] -> [N, head_dim]
        sin = cat([sin, sin], 1);
        return new VisionRotaryTables(cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope(), invFreq.MoveToOuterDisposeScope());
    }

    /// <summary>q·cos + rotate_half(q)·sin in fp32, cast back: x [N, heads, head_dim], cos/sin [N, head_dim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var xf = x.to(ScalarType.Float32);
        var c = cos.unsqueeze(1);                                      // [N, head_dim] -> [N, 1, head_dim]
        var s = sin.unsqueeze(1);
        var y = (xf * c) + (Rotary.RotateHalf(xf) * s);
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }
}
