using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

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
        weight = weights.Get(name + ".weight", [dim], ParameterPrecision.Model);
        bias = weights.Get(name + ".bias", [dim], ParameterPrecision.Model);
        _shape = [dim];
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => nn.functional.layer_norm(input, _shape, weight, bias, _eps);
}
