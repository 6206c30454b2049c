using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Vision;

// Python counterpart: transformers/models/qwen2_vl/modeling_qwen2_vl.py `PatchEmbed` (4.45).

/// <summary>
/// The Conv3d patch embedding. Kernel = stride and the input is already cut into patches, so the convolution is a
/// matmul with the weight flattened to [embed, C·T·P·P] (its flattening order is the patch vector's, docs/preprocessing.md).
/// </summary>
internal sealed class PatchEmbed : nn.Module<Tensor, Tensor>
{
    public readonly PatchProjection proj;

    public PatchEmbed(string name, Qwen2VLVisionConfig config, WeightSource weights)
        : base(name)
    {
        proj = new PatchProjection(name + ".proj", config, weights);
        RegisterComponents();
    }

    /// <summary>[N, C·T·P·P] pixel patches (fp32) → [N, embed] in the weight dtype.</summary>
    public override Tensor forward(Tensor pixelValues) => proj.forward(pixelValues);
}

/// <summary>The bias-free Conv3d <c>proj</c> ([embed, C, T, P, P]) applied to flattened patches.</summary>
internal sealed class PatchProjection : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    private readonly long _embed;

    public PatchProjection(string name, Qwen2VLVisionConfig config, WeightSource weights)
        : base(name)
    {
        _embed = config.EmbedDim;
        weight = weights.Get(name + ".weight", [config.EmbedDim, config.InChans, config.TemporalPatchSize, config.PatchSize, config.PatchSize], ParameterPrecision.Model);
        RegisterComponents();
    }

    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var w = weight.view(_embed, -1);                               // [E, C, T, P, P] -> [E, C·T·P·P]
        var y = nn.functional.linear(pixelValues.to(weight.dtype), w); // [N, C·T·P·P] -> [N, E]
        return y.MoveToOuterDisposeScope();
    }
}
