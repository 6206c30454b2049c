using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using TorchSharp.Modules;
using LayerNorm = HpsSharp.Modeling.Layers.LayerNorm;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Blip;

/// <summary>
/// BLIP's <c>visual_encoder</c> (IMAGEREWARD.md §4.1): biased patch conv, [CLS] + patches + <c>pos_embed</c>,
/// pre-norm blocks, final <c>norm</c> → all tokens as the cross-attention memory.
/// </summary>
internal sealed class BlipVisionTransformer : nn.Module<Tensor, Tensor>
{
    public readonly Parameter cls_token;
    public readonly Parameter pos_embed;
    public readonly Parameter patch_weight;
    public readonly Parameter patch_bias;
    public readonly ModuleList<BlipVisionBlock> blocks;
    public readonly LayerNorm norm;
    private readonly int _patch;

    public BlipVisionTransformer(string name, BlipVisionConfig cfg, WeightSource weights)
        : base(name)
    {
        long w = cfg.Width;
        _patch = cfg.PatchSize;
        cls_token = weights.Get(name + ".cls_token", [1, 1, w], ParameterPrecision.Model);
        pos_embed = weights.Get(name + ".pos_embed", [1, cfg.Tokens, w], ParameterPrecision.Model);
        patch_weight = weights.Get(name + ".patch_embed.proj.weight", [w, 3, cfg.PatchSize, cfg.PatchSize], ParameterPrecision.Model);
        patch_bias = weights.Get(name + ".patch_embed.proj.bias", [w], ParameterPrecision.Model);
        blocks = new ModuleList<BlipVisionBlock>(Enumerable.Range(0, cfg.Depth).Select(i => new BlipVisionBlock($"{name}.blocks.{i}", cfg, weights)).ToArray());
        norm = new LayerNorm(name + ".norm", w, cfg.LayerNormEps, weights);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixels) => Forward(pixels, null);

    public Tensor Forward(Tensor pixels, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        long b = pixels.shape[0];
        var patches = nn.functional.conv2d(pixels, patch_weight, patch_bias, strides: [_patch, _patch]).flatten(2).transpose(1, 2);
        trace?.Add("patch_embeds", patches);
        var x = cat([cls_token.expand(b, 1, -1), patches], 1).add(pos_embed);
        var layers = trace is null ? null : new List<Tensor>();
        foreach (var block in blocks)
        {
            x = block.forward(x);
            layers?.Add(x);
        }

        if (layers is not null)
        {
            trace!.Add("vision_layers", stack(layers));
        }

        x = norm.forward(x);
        trace?.Add("image_embeds", x);
        return x.MoveToOuterDisposeScope();
    }
}
