using HpsSharp.Core.Safetensors;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Weights;

/// <summary>
/// Where a module's parameters come from while the module tree is built: every block asks for its tensors by their
/// checkpoint name, so a loaded model holds views of the memory-mapped file (no zero-filled copy first, no second
/// copy after) and the meta-device build allocates nothing.
/// </summary>
internal abstract class WeightSource
{
    /// <summary>The parameter stored under the flat checkpoint name <paramref name="name"/>.</summary>
    public abstract Parameter Get(string name, long[] shape, ParameterPrecision precision);

    /// <summary>dtype the backbone computes in (bf16 emulates the released <c>model.to(bfloat16)</c>).</summary>
    public abstract ScalarType BackboneDtype { get; }

    /// <summary>Names handed out so far (the model checks it asked for exactly the table).</summary>
    public List<string> Requested { get; } = [];

    protected void Record(string name) => Requested.Add(name);
}

/// <summary>Parameters on the <c>meta</c> device: shapes and dtypes only, no memory (structure tests).</summary>
internal sealed class MetaWeightSource(ScalarType backboneDtype) : WeightSource
{
    public override ScalarType BackboneDtype => backboneDtype;

    public override Parameter Get(string name, long[] shape, ParameterPrecision precision)
    {
        Record(name);
        var dtype = precision == ParameterPrecision.Float32 ? ScalarType.Float32 : backboneDtype;
        return new Parameter(empty(shape, dtype, new Device(DeviceType.META)), requires_grad: false);
    }
}

/// <summary>
/// Freshly initialised parameters (weights N(0, std²), biases 0, norm weights 1) from a seeded generator:
/// for building a model from a config alone (tests, training from the base model's layout).
/// </summary>
internal sealed class RandomWeightSource(ScalarType backboneDtype, Device device, long seed, double std, bool requiresGrad) : WeightSource
{
    private readonly Generator _generator = new Generator((ulong)seed, new Device(DeviceType.CPU));

    public override ScalarType BackboneDtype => backboneDtype;

    public override Parameter Get(string name, long[] shape, ParameterPrecision precision)
    {
        Record(name);
        var dtype = precision == ParameterPrecision.Float32 ? ScalarType.Float32 : backboneDtype;
        bool isNorm = name.Contains("norm", StringComparison.Ordinal) || name.Contains("ln_q", StringComparison.Ordinal);
        Tensor t;
        if (name.EndsWith(".bias", StringComparison.Ordinal))
        {
            t = zeros(shape, ScalarType.Float32);
        }
        else if (isNorm)
        {
            t = ones(shape, ScalarType.Float32);
        }
        else
        {
            t = normal(0, std, shape, ScalarType.Float32, generator: _generator);
        }

        using (t)
        {
            return new Parameter(t.to(dtype, device), requiresGrad);
        }
    }
}
