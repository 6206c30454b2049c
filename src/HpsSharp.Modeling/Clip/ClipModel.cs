using HpsSharp.Core;
using HpsSharp.Core.Checkpoints;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Clip;

/// <summary>A CLIP dual encoder in either key layout; either tower may be left out (the aesthetic predictor needs only the image tower).</summary>
internal sealed class ClipModel : nn.Module, IDisposable
{
    public readonly ClipVisionTower vision;
    public readonly ClipTextTower? text;
    public readonly Parameter? logit_scale;

    public ClipModel(ClipConfig config, ClipLayout layout, WeightSource weights, bool withText = true)
        : base("clip")
    {
        Config = config;
        Layout = layout;
        if (layout == ClipLayout.OpenClip && withText)
        {
            // open_clip's state_dict order: the text tower's loose tensors come first; names are what matter.
            text = new ClipTextTower(config, layout, weights);
        }

        vision = new ClipVisionTower(config, layout, weights);
        if (layout == ClipLayout.HuggingFace && withText)
        {
            text = new ClipTextTower(config, layout, weights);
        }

        logit_scale = withText ? weights.Get("logit_scale", [], ParameterPrecision.Model) : null;
        RegisterComponents();
    }

    public ClipConfig Config { get; }

    public ClipLayout Layout { get; }

    /// <summary>Builds from an HF <c>model.safetensors</c> (read whole, fp32); <c>*.position_ids</c> buffers are ignored if present.</summary>
    public static ClipModel LoadHuggingFace(string safetensorsPath, ClipConfig config, bool withText = true)
    {
        using var file = SafetensorsFile.Open(safetensorsPath);
        using var scope = NewDisposeScope();
        var table = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var info in file.Tensors)
        {
            if (info.Name.EndsWith(".position_ids", StringComparison.Ordinal))
            {
                continue;
            }

            var t = info.Dtype switch
            {
                SafetensorsDtype.F32 => tensor(file.ReadFloat32(info.Name), info.Shape),
                SafetensorsDtype.F16 or SafetensorsDtype.BF16 => RawTensor(file, info),
                _ => throw new UserInputException(safetensorsPath, $"tensor '{info.Name}' has dtype {info.Dtype}; a CLIP checkpoint holds floating tensors"),
            };
            table[info.Name] = t;
        }

        return Build(table, config, ClipLayout.HuggingFace, safetensorsPath, withText);
    }

    /// <summary>Builds from an open_clip <c>torch.save</c> checkpoint (HPSv2: the state dict under <c>state_dict</c>; 16-bit weights upcast to fp32).</summary>
    public static ClipModel LoadOpenClip(string checkpointPath, ClipConfig config, string? stateDictKey = "state_dict")
    {
        using var ckpt = TorchCheckpoint.Open(checkpointPath);
        using var scope = NewDisposeScope();
        var raw = TorchCheckpointTensors.Load(ckpt, ckpt.Root is System.Collections.IDictionary d && stateDictKey is not null && d.Contains(stateDictKey) ? stateDictKey : null, ScalarType.Float32);
        // A DataParallel save carries a "module." prefix; the fork's load_state_dict strips it, so do the same.
        var table = raw.ToDictionary(kv => kv.Key.StartsWith("module.", StringComparison.Ordinal) ? kv.Key["module.".Length..] : kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return Build(table, config, ClipLayout.OpenClip, checkpointPath, withText: true);
    }

    private static ClipModel Build(Dictionary<string, Tensor> table, ClipConfig config, ClipLayout layout, string source, bool withText)
    {
        var weights = new DictionaryWeightSource(table, ScalarType.Float32, source);
        var model = new ClipModel(config, layout, weights, withText);
        var unused = weights.Unused.Where(n => withText || !IsTextName(n, layout)).ToList();
        if (unused.Count > 0)
        {
            model.Dispose();
            throw new UserInputException(source, $"{unused.Count} tensor(s) that this CLIP configuration does not use, e.g. '{unused[0]}' (a checkpoint of another size or architecture?)");
        }

        foreach (var p in model.parameters())
        {
            p.DetachFromDisposeScope();
        }

        return model;
    }

    private static bool IsTextName(string name, ClipLayout layout) => layout == ClipLayout.HuggingFace
        ? name.StartsWith("text_model.", StringComparison.Ordinal) || name is "text_projection.weight" or "logit_scale"
        : !name.StartsWith("visual.", StringComparison.Ordinal);

    private static Tensor RawTensor(SafetensorsFile file, TensorInfo info)
    {
        var t = empty(info.Shape, info.Dtype == SafetensorsDtype.F16 ? ScalarType.Float16 : ScalarType.BFloat16);
        t.bytes = file.ReadBytes(info.Name);
        return t;
    }

    /// <summary>L2 normalisation as <c>F.normalize</c> (divides by max(‖x‖, 1e-12)).</summary>
    public static Tensor Normalize(Tensor x) => nn.functional.normalize(x, p: 2, dim: -1, eps: 1e-12);
}
