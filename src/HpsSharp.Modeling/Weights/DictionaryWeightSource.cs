using HpsSharp.Core.Safetensors;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Weights;

/// <summary>
/// Parameters from an in-memory name → tensor table (a pickled checkpoint, or a safetensors file read whole), cast to
/// one dtype and checked against the shape each block asks for. <see cref="Unused"/> lists what the model never asked
/// for, so a loader can refuse a checkpoint of another architecture instead of silently ignoring half of it.
/// </summary>
internal sealed class DictionaryWeightSource(IReadOnlyDictionary<string, Tensor> tensors, ScalarType dtype, string source) : WeightSource
{
    public override ScalarType BackboneDtype => dtype;

    public override Parameter Get(string name, long[] shape, ParameterPrecision precision)
    {
        Record(name);
        if (!tensors.TryGetValue(name, out var t))
        {
            throw new Core.UserInputException(source, $"the checkpoint has no tensor '{name}' (is it the right model?)");
        }

        if (!t.shape.SequenceEqual(shape))
        {
            throw new Core.UserInputException(source, $"tensor '{name}' is [{string.Join(", ", t.shape)}] but the model needs [{string.Join(", ", shape)}]");
        }

        return new Parameter(t.to(dtype).clone(), requires_grad: false);
    }

    /// <summary>Names in the table that no block asked for.</summary>
    public IEnumerable<string> Unused => tensors.Keys.Except(Requested, StringComparer.Ordinal);
}
