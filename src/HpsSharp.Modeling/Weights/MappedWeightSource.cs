using HpsSharp.Core.Safetensors;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Weights;

/// <summary>
/// Parameters read from safetensors files by memory mapping (<c>torch.from_file</c>, a private read-only mapping):
/// a tensor stored in the dtype it is used in is a view of the mapping, so a bf16 checkpoint in bf16 mode costs no
/// copy at all and pages are read only when touched (the unused <c>lm_head</c> never is). A dtype change (fp32
/// mode, or a bf16 head) or a device change makes the one unavoidable converted copy.
/// </summary>
internal sealed class MappedWeightSource : WeightSource, IDisposable
{
    private readonly SafetensorsModel _model;
    private readonly IReadOnlyDictionary<string, string> _storedNames;
    private readonly ScalarType _backbone;
    private readonly Device _device;
    private readonly bool _requiresGrad;
    private readonly Dictionary<(string Path, ScalarType Dtype), Tensor> _maps = [];

    public MappedWeightSource(SafetensorsModel model, IReadOnlyDictionary<string, string> storedNames, ScalarType backboneDtype, Device device, bool requiresGrad)
    {
        _model = model;
        _storedNames = storedNames;
        _backbone = backboneDtype;
        _device = device;
        _requiresGrad = requiresGrad;
    }

    public override ScalarType BackboneDtype => _backbone;

    /// <summary>Tensors that needed a copy because their offset was not aligned to their element size.</summary>
    public int UnalignedCopies { get; private set; }

    /// <summary>Parameters handed out as views of the mapping (no copy).</summary>
    public int ZeroCopy { get; private set; }

    public override Parameter Get(string name, long[] shape, ParameterPrecision precision)
    {
        Record(name);
        if (!_storedNames.TryGetValue(name, out var stored))
        {
            // The layout check ran before construction; reaching this is a bug in the module tree, not bad input.
            throw new InvalidOperationException($"the model asked for '{name}', which the layout table does not list");
        }

        var file = _model.FileOf(stored);
        var info = file[stored];
        if (!info.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new InvalidOperationException($"the model built '{name}' as [{string.Join(", ", shape)}] but the checked file has [{string.Join(", ", info.Shape)}]");
        }

        var want = precision == ParameterPrecision.Float32 ? ScalarType.Float32 : _backbone;
        var (view, mapped) = Map(file, info);
        Tensor result;
        if (view.dtype == want && _device.type == DeviceType.CPU)
        {
            result = view;
            ZeroCopy += mapped ? 1 : 0;
        }
        else
        {
            using (view)
            {
                result = view.to(want, _device);
            }
        }

        return new Parameter(result, _requiresGrad);
    }

    private (Tensor Tensor, bool Mapped) Map(SafetensorsFile file, TensorInfo info)
    {
        var dtype = ToTorch(info.Dtype);
        int size = SafetensorsDtypes.Size(info.Dtype);
        long absolute = file.DataOffset + info.Begin;
        long count = info.ElementCount;
        if (count == 0)
        {
            return (empty(info.Shape, dtype), false);
        }

        if (absolute % size != 0)
        {
            // safetensors does not promise per-tensor alignment: read this one tensor instead of mapping it.
            UnalignedCopies++;
            var bytes = file.ReadBytes(info.Name);
            var copy = empty(info.Shape, dtype);
            copy.bytes = bytes;
            return (copy, false);
        }

        if (!_maps.TryGetValue((file.Path, dtype), out var whole))
        {
            whole = from_file(file.Path, shared: false, size: file.FileLength / size, dtype: dtype);
            _maps[(file.Path, dtype)] = whole;
        }

        return (whole.narrow(0, absolute / size, count).view(info.Shape), true);
    }

    private static ScalarType ToTorch(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.BF16 => ScalarType.BFloat16,
        SafetensorsDtype.F16 => ScalarType.Float16,
        SafetensorsDtype.F32 => ScalarType.Float32,
        SafetensorsDtype.F64 => ScalarType.Float64,
        _ => throw new InvalidOperationException($"dtype {dtype} is not a floating type (the layout check refuses it)"),
    };

    /// <summary>Drops the whole-file tensors; the parameters keep the mapping alive through their storage.</summary>
    public void Dispose()
    {
        foreach (var t in _maps.Values)
        {
            t.Dispose();
        }

        _maps.Clear();
    }
}
