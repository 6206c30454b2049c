using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Vision;

// Python counterpart: modeling_qwen2_vl.py `Qwen2VisionTransformerPretrainedModel` (4.45).

/// <summary>The Qwen2-VL vision tower: patch embed → blocks with 2-D RoPE → patch merger (docs/model.md#backbone).</summary>
internal sealed class VisionTransformer : nn.Module<Tensor, Tensor, Tensor>
{
    public readonly PatchEmbed patch_embed;
    public readonly ModuleList<VisionBlock> blocks;
    public readonly PatchMerger merger;
    private readonly Qwen2VLVisionConfig _config;
    private readonly ScalarType _dtype;

    public VisionTransformer(string name, Qwen2VLVisionConfig config, WeightSource weights)
        : base(name)
    {
        _config = config;
        _dtype = weights.BackboneDtype;
        patch_embed = new PatchEmbed(name + ".patch_embed", config, weights);
        var list = new VisionBlock[config.Depth];
        for (int i = 0; i < config.Depth; i++)
        {
            list[i] = new VisionBlock($"{name}.blocks.{i}", config, weights);
        }

        blocks = new ModuleList<VisionBlock>(list);
        merger = new PatchMerger(name + ".merger", config, weights);
        RegisterComponents();
    }

    /// <summary>Recompute each block in the backward pass instead of keeping its activations (training only).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>pixel_values [N, 1176] fp32 and grid_thw [n, 3] int64 → merged embeddings [N/4, hidden].</summary>
    public override Tensor forward(Tensor pixelValues, Tensor gridThw) => Forward(pixelValues, gridThw, null);

    public Tensor Forward(Tensor pixelValues, Tensor gridThw, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        var grids = ReadGrids(gridThw, pixelValues.shape[0], _config);
        var images = new List<(long, long)>();
        long start = 0;
        foreach (var (t, h, w) in grids)
        {
            // cu_seqlens: one attention block per temporal group of each image.
            for (int r = 0; r < t; r++)
            {
                images.Add((start, (long)h * w));
                start += (long)h * w;
            }
        }

        var x = patch_embed.forward(pixelValues);                                        // [N, 1176] -> [N, E]
        trace?.Add("patch_embeds", x);
        using var rope = VisionRotary.Build(grids, _config.HeadDim, _config.SpatialMergeSize, _dtype, pixelValues.device);
        if (trace is not null)
        {
            trace.Add("vision_rope_cos", rope.Cos);
            trace.Add("vision_rope_sin", rope.Sin);
            trace.Add("vision_inv_freq", rope.InvFreq);
        }

        var context = new VisionContext(rope.Cos, rope.Sin, images);
        bool checkpoint = GradientCheckpointing && training && is_grad_enabled();
        foreach (var block in blocks)
        {
            if (checkpoint)
            {
                var trainable = block.parameters().Where(p => p.requires_grad).Cast<Tensor>().ToList();
                var b = block;
                x = ActivationCheckpoint.Run((xi, e) => b.forward(xi, new VisionContext(e[0]!, e[1]!, images)), x, [rope.Cos, rope.Sin], trainable);
            }
            else
            {
                x = block.forward(x, context);
            }
        }

        trace?.Add("vision_pre_merger", x);
        var merged = merger.forward(x);                                                  // [N, E] -> [N/4, hidden]
        trace?.Add("vision_embeds", merged);
        return merged.MoveToOuterDisposeScope();
    }

    /// <summary>Reads grid_thw and checks it against the patch count and the merge size.</summary>
    internal static List<(int T, int H, int W)> ReadGrids(Tensor gridThw, long patches, Qwen2VLVisionConfig config)
    {
        if (gridThw.dim() != 2 || gridThw.shape[1] != 3)
        {
            throw new ArgumentException($"grid_thw must be [images, 3]; got [{string.Join(", ", gridThw.shape)}]", nameof(gridThw));
        }

        var values = gridThw.to(ScalarType.Int64).cpu().data<long>().ToArray();
        var grids = new List<(int, int, int)>();
        long total = 0;
        for (int i = 0; i < values.Length; i += 3)
        {
            long t = values[i], h = values[i + 1], w = values[i + 2];
            if (t <= 0 || h <= 0 || w <= 0 || h % config.SpatialMergeSize != 0 || w % config.SpatialMergeSize != 0)
            {
                throw new ArgumentException($"grid_thw row {i / 3} = ({t}, {h}, {w}) is invalid: all positive, h and w multiples of {config.SpatialMergeSize}", nameof(gridThw));
            }

            grids.Add(((int)t, (int)h, (int)w));
            total += t * h * w;
        }

        if (total != patches)
        {
            throw new ArgumentException($"grid_thw describes {total} patches but pixel_values has {patches} rows", nameof(gridThw));
        }

        return grids;
    }
}
