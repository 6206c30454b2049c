using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

/// <summary>
/// Qwen2 RMSNorm (transformers <c>Qwen2RMSNorm</c>): normalise in fp32, cast back to the input dtype, then multiply
/// by the weight — in bf16 the product is rounded once more, as HF does (docs/model.md#backbone, §7).
/// </summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    private readonly double _eps;

    public RmsNorm(string name, long dim, double eps, WeightSource weights)
        : base(name)
    {
        weight = weights.Get(name + ".weight", [dim], ParameterPrecision.Model);
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
