using HpsSharp.Core.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Weights;

/// <summary>Turns the records of a restricted <see cref="TorchCheckpoint"/> into CPU tensors.</summary>
public static class TorchCheckpointTensors
{
    /// <summary>The TorchSharp dtype of a checkpoint dtype.</summary>
    public static ScalarType ToScalarType(TorchDtype dtype) => dtype switch
    {
        TorchDtype.Float32 => ScalarType.Float32,
        TorchDtype.Float64 => ScalarType.Float64,
        TorchDtype.Float16 => ScalarType.Float16,
        TorchDtype.BFloat16 => ScalarType.BFloat16,
        TorchDtype.Int64 => ScalarType.Int64,
        TorchDtype.Int32 => ScalarType.Int32,
        TorchDtype.Int16 => ScalarType.Int16,
        TorchDtype.Int8 => ScalarType.Int8,
        TorchDtype.UInt8 => ScalarType.Byte,
        TorchDtype.Bool => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>
    /// Every tensor of the state dict (at <paramref name="key"/> when given) as a contiguous CPU tensor in its stored
    /// dtype, or converted to <paramref name="floatDtype"/> when it is a floating tensor and a dtype is given.
    /// Storages shared by several tensors are read once.
    /// </summary>
    public static Dictionary<string, Tensor> Load(TorchCheckpoint checkpoint, string? key = null, ScalarType? floatDtype = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, rec) in checkpoint.Tensors(key))
            {
                if (!storages.TryGetValue(rec.StorageKey, out var storage))
                {
                    var bytes = checkpoint.ReadStorage(rec);
                    storage = empty([rec.StorageElements], ToScalarType(rec.Dtype));
                    if (bytes.Length > 0)
                    {
                        storage.bytes = bytes;
                    }

                    storages[rec.StorageKey] = storage;
                }

                using var view = storage.as_strided(rec.Shape, rec.Strides, rec.StorageOffset);
                var t = view.contiguous().clone();
                if (floatDtype is { } want && t.is_floating_point() && t.dtype != want)
                {
                    var converted = t.to(want);
                    t.Dispose();
                    t = converted;
                }

                result[name] = t;
            }
        }
        catch
        {
            foreach (var t in result.Values)
            {
                t.Dispose();
            }

            throw;
        }
        finally
        {
            foreach (var s in storages.Values)
            {
                s.Dispose();
            }
        }

        return result;
    }
}
