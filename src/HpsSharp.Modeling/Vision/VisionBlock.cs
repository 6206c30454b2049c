using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Vision;

// Python counterpart: modeling_qwen2_vl.py `Qwen2VLVisionBlock`, `VisionAttention`/`VisionSdpaAttention`, `VisionMlp` (4.45).

/// <summary>Pre-norm ViT block: x + attn(norm1(x)), then x + mlp(norm2(x)).</summary>
internal sealed class VisionBlock : nn.Module<Tensor, VisionContext, Tensor>
{
    public readonly LayerNorm norm1;
    public readonly LayerNorm norm2;
    public readonly VisionAttention attn;
    public readonly VisionMlp mlp;

    public VisionBlock(string name, Qwen2VLVisionConfig config, WeightSource weights)
        : base(name)
    {
        norm1 = new LayerNorm(name + ".norm1", config.EmbedDim, 1e-6, weights);
        norm2 = new LayerNorm(name + ".norm2", config.EmbedDim, 1e-6, weights);
        attn = new VisionAttention(name + ".attn", config, weights);
        mlp = new VisionMlp(name + ".mlp", config, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, VisionContext context)
    {
        using var scope = NewDisposeScope();
        var h = x + attn.forward(norm1.forward(x), context);
        h = h + mlp.forward(norm2.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>What every vision block needs besides its input: rotary tables and the patch range of each image.</summary>
internal sealed record VisionContext(Tensor Cos, Tensor Sin, IReadOnlyList<(long Start, long Length)> Images);

/// <summary>
/// Multi-head self-attention with 2-D RoPE, full (bidirectional) within each image and none across images
/// (the block-diagonal cu_seqlens mask), computed image by image with scaled-dot-product attention.
/// </summary>
internal sealed class VisionAttention : nn.Module<Tensor, VisionContext, Tensor>
{
    public readonly Linear qkv;
    public readonly Linear proj;
    private readonly long _heads;
    private readonly long _headDim;

    public VisionAttention(string name, Qwen2VLVisionConfig config, WeightSource weights)
        : base(name)
    {
        _heads = config.NumHeads;
        _headDim = config.HeadDim;
        qkv = new Linear(name + ".qkv", config.EmbedDim, 3L * config.EmbedDim, true, weights);
        proj = new Linear(name + ".proj", config.EmbedDim, config.EmbedDim, true, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, VisionContext context)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        var parts = qkv.forward(x).view(n, 3, _heads, _headDim).permute(1, 0, 2, 3);  // [N, 3E] -> [3, N, heads, d]
        var q = VisionRotary.Apply(parts[0], context.Cos, context.Sin).transpose(0, 1); // [N, heads, d] -> [heads, N, d]
        var k = VisionRotary.Apply(parts[1], context.Cos, context.Sin).transpose(0, 1);
        var v = parts[2].transpose(0, 1);
        Tensor output;
        // On CUDA, SDPA gets 4-D [1, heads, N, d]: with 3-D inputs it falls back from the flash / memory-efficient
        // kernels to the math kernel, which materialises [heads, N, N]. The CPU keeps the 3-D call, whose results are
        // bit-for-bit those of the goldens' runs (the CPU flash kernel is not bit-identical across weight layouts).
        if (context.Images.Count == 1)
        {
            output = Attend(q, k, v);                                                   // [heads, N, d]
        }
        else
        {
            var chunks = new List<Tensor>(context.Images.Count);
            foreach (var (start, length) in context.Images)
            {
                chunks.Add(Attend(q.narrow(1, start, length), k.narrow(1, start, length), v.narrow(1, start, length)));
            }

            output = cat(chunks, 1);
        }

        output = output.transpose(0, 1).reshape(n, -1);                                 // [heads, N, d] -> [N, heads·d]
        return proj.forward(output).MoveToOuterDisposeScope();
    }

    private static Tensor Attend(Tensor q, Tensor k, Tensor v) => q.device.type == DeviceType.CUDA
        ? nn.functional.scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)).squeeze(0) // [heads, n, d] -> [1, heads, n, d] -> [heads, n, d]
        : nn.functional.scaled_dot_product_attention(q, k, v);
}

/// <summary>fc2(quick_gelu(fc1(x))), quick_gelu(x) = x·sigmoid(1.702·x) (the class default; absent from config.json).</summary>
internal sealed class VisionMlp : nn.Module<Tensor, Tensor>
{
    public readonly Linear fc1;
    public readonly Linear fc2;

    public VisionMlp(string name, Qwen2VLVisionConfig config, WeightSource weights)
        : base(name)
    {
        long hidden = (long)config.EmbedDim * config.MlpRatio;
        fc1 = new Linear(name + ".fc1", config.EmbedDim, hidden, true, weights);
        fc2 = new Linear(name + ".fc2", hidden, config.EmbedDim, true, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = fc1.forward(x);
        h = h * sigmoid(h * 1.702);
        return fc2.forward(h).MoveToOuterDisposeScope();
    }
}
