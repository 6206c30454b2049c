using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

/// <summary><c>y = x·Wᵀ + b</c> with <c>weight</c> [out, in] and optional <c>bias</c> [out], as <c>torch.nn.Linear</c>.</summary>
internal sealed class Linear : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;

    public Linear(string name, long inFeatures, long outFeatures, bool hasBias, WeightSource weights, Hpsv3TensorRole role = Hpsv3TensorRole.Backbone)
        : base(name)
    {
        weight = weights.Get(name + ".weight", [outFeatures, inFeatures], role);
        bias = hasBias ? weights.Get(name + ".bias", [outFeatures], role) : null;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => nn.functional.linear(input, weight, bias);
}

/// <summary>LayerNorm over the last dimension with weight and bias (statistics in fp32 inside the kernel).</summary>
internal sealed class LayerNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter bias;
    private readonly long[] _shape;
    private readonly double _eps;

    public LayerNorm(string name, long dim, double eps, WeightSource weights)
        : base(name)
    {
        weight = weights.Get(name + ".weight", [dim], Hpsv3TensorRole.Backbone);
        bias = weights.Get(name + ".bias", [dim], Hpsv3TensorRole.Backbone);
        _shape = [dim];
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => nn.functional.layer_norm(input, _shape, weight, bias, _eps);
}

/// <summary>
/// Qwen2 RMSNorm (transformers <c>Qwen2RMSNorm</c>): normalise in fp32, cast back to the input dtype, then multiply
/// by the weight — in bf16 the product is rounded once more, as HF does (QWEN2VL.md §6.5, §7).
/// </summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    private readonly double _eps;

    public RmsNorm(string name, long dim, double eps, WeightSource weights)
        : base(name)
    {
        weight = weights.Get(name + ".weight", [dim], Hpsv3TensorRole.Backbone);
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.to(ScalarType.Float32);
        var variance = x.pow(2).mean([-1], keepdim: true);
        x = x * rsqrt(variance + _eps);
        return (weight * x.to(input.dtype)).MoveToOuterDisposeScope();
    }
}
