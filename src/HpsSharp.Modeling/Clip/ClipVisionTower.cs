using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Embedding = HpsSharp.Modeling.Layers.Embedding;
using LayerNorm = HpsSharp.Modeling.Layers.LayerNorm;
using TorchSharp.Modules;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Clip;

/// <summary>
/// CLIP's ViT image tower (SCORERS.md §1.3): patch conv without bias → [CLS] + patches + positions → pre-LN → blocks →
/// LN of the class token → projection without bias. HF names under <c>vision_model.</c> + <c>visual_projection</c>;
/// open_clip names under <c>visual.</c> (<c>conv1</c>, <c>ln_pre</c>, <c>transformer.resblocks</c>, <c>ln_post</c>, <c>proj</c> used as <c>x @ proj</c>).
/// </summary>
internal sealed class ClipVisionTower : nn.Module<Tensor, Tensor>
{
    public readonly Parameter class_embedding;
    public readonly Parameter patch_weight;
    public readonly Parameter position_embedding;
    public readonly LayerNorm pre_norm;
    public readonly ModuleList<ClipEncoderLayer> layers;
    public readonly LayerNorm post_norm;
    public readonly Parameter projection;
    private readonly ClipLayout _layout;
    private readonly int _patch;

    public ClipVisionTower(ClipConfig cfg, ClipLayout layout, WeightSource weights)
        : base("vision")
    {
        _layout = layout;
        _patch = cfg.PatchSize;
        var v = cfg.Vision;
        long w = v.Width;
        bool hf = layout == ClipLayout.HuggingFace;
        string p = hf ? "vision_model." : "visual.";
        class_embedding = weights.Get(p + (hf ? "embeddings.class_embedding" : "class_embedding"), [w], ParameterPrecision.Model);
        patch_weight = weights.Get(p + (hf ? "embeddings.patch_embedding.weight" : "conv1.weight"), [w, 3, cfg.PatchSize, cfg.PatchSize], ParameterPrecision.Model);
        position_embedding = weights.Get(p + (hf ? "embeddings.position_embedding.weight" : "positional_embedding"), [cfg.VisionTokens, w], ParameterPrecision.Model);
        pre_norm = new LayerNorm(p + (hf ? "pre_layrnorm" : "ln_pre"), w, v.LayerNormEps, weights);
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, v.Layers)
            .Select(i => new ClipEncoderLayer(p + (hf ? $"encoder.layers.{i}" : $"transformer.resblocks.{i}"), v, layout, weights)).ToArray());
        post_norm = new LayerNorm(p + (hf ? "post_layernorm" : "ln_post"), w, v.LayerNormEps, weights);
        projection = hf
            ? weights.Get("visual_projection.weight", [cfg.ProjectionDim, w], ParameterPrecision.Model)
            : weights.Get("visual.proj", [w, cfg.ProjectionDim], ParameterPrecision.Model);
        RegisterComponents();
    }

    /// <summary>pixel values [B, 3, S, S] → image embeddings [B, E] (unnormalised).</summary>
    public override Tensor forward(Tensor pixels) => Forward(pixels, null);

    public Tensor Forward(Tensor pixels, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        long b = pixels.shape[0];
        var patches = nn.functional.conv2d(pixels.to(patch_weight.dtype), patch_weight, strides: [_patch, _patch]).flatten(2).transpose(1, 2);
        trace?.Add("image_patch_embeds", patches);
        var cls = class_embedding.view(1, 1, -1).expand(b, 1, -1);
        var x = cat([cls, patches], 1).add(position_embedding);
        trace?.Add("image_embeddings", x);
        x = pre_norm.forward(x);
        var hidden = trace is null ? null : new List<Tensor> { x };
        foreach (var layer in layers)
        {
            x = layer.forward(x, null);
            hidden?.Add(x);
        }

        if (hidden is not null)
        {
            trace!.Add("image_hidden_states", stack(hidden));
        }

        var pooled = post_norm.forward(x.select(1, 0));
        trace?.Add("image_pooled", pooled);
        var embeds = _layout == ClipLayout.HuggingFace ? nn.functional.linear(pooled, projection) : matmul(pooled, projection);
        trace?.Add("image_embeds", embeds);
        return embeds.MoveToOuterDisposeScope();
    }
}
