using HpsSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling;

/// <summary>
/// One model batch, as the HPSv3 processor builds it (right padding).
/// </summary>
/// <param name="InputIds">[B, L] int64 token ids; each row has its image pads and one <c>&lt;|Reward|&gt;</c>.</param>
/// <param name="AttentionMask">[B, L] int64, 1 for real tokens, 0 for padding.</param>
/// <param name="PixelValues">[N, 1176] fp32 patches of every image, concatenated in batch order (N may be 0).</param>
/// <param name="GridThw">[n, 3] int64 (t, h, w) per image, in batch order.</param>
/// <param name="RewardIndex">[B] int64 position of <c>&lt;|Reward|&gt;</c> in each row.</param>
public sealed record Hpsv3Batch(Tensor InputIds, Tensor AttentionMask, Tensor PixelValues, Tensor GridThw, Tensor RewardIndex) : IDisposable
{
    /// <summary>Disposes the five tensors.</summary>
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        PixelValues.Dispose();
        GridThw.Dispose();
        RewardIndex.Dispose();
    }
}

/// <summary>How to load a model: its backbone precision and the device its parameters live on.</summary>
/// <param name="Dtype"><see cref="Precision.Bf16"/>: backbone in bf16 as HPSv3 runs it (head fp32); <see cref="Precision.Fp32"/>: everything in fp32 (exact mode).</param>
/// <param name="Device">Where the parameters live (default: the CPU); CUDA needs a CUDA libtorch package.</param>
/// <param name="RequiresGrad">Whether the parameters track gradients (training); false for scoring.</param>
public sealed record ModelLoadOptions(Precision Dtype = Precision.Bf16, DeviceSpec Device = default, bool RequiresGrad = false)
{
    internal ScalarType BackboneDtype => Dtype.ToScalarType();

    internal Device TorchDevice
    {
        get
        {
            if (Device.Kind == ComputeDevice.Cuda && !TorchSharp.torch.cuda.is_available())
            {
                throw UserInputException.ForOption(DeviceSpec.Field, $"'{Device}' requested but CUDA is not available (this build references a CPU libtorch; build with -p:LibTorchPackage=libtorch-cuda-12.8-linux-x64)");
            }

            return new Device(Device.ToString());
        }
    }
}

/// <summary>Core's <see cref="Precision"/> as the backbone's libtorch dtype, and back.</summary>
internal static class PrecisionScalarType
{
    public static ScalarType ToScalarType(this Precision precision) => precision == Precision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;

    public static Precision ToPrecision(this ScalarType backbone) => backbone == ScalarType.BFloat16 ? Precision.Bf16 : Precision.Fp32;
}
