using HpsSharp.Core;
using HpsSharp.Core.Imaging;

namespace HpsSharp.Modeling;

/// <summary>How <see cref="HpsScorer"/> loads and runs the model.</summary>
/// <param name="Dtype">bf16 (as released; default) or fp32 (exact mode).</param>
/// <param name="Device">The CPU (default), or a CUDA device with a CUDA libtorch package.</param>
/// <param name="BatchSize">
/// Items per forward pass (sequences are sorted by length to cut padding); 0 = automatic: on CUDA the largest batch
/// whose activations fit in the device memory left after loading (<see cref="HpsScorer.AutoBatchSize"/>), on the CPU 4.
/// </param>
/// <param name="MinPixels">Image pixel budget lower bound (HPSv3: 200704 = 256·28²).</param>
/// <param name="MaxPixels">Image pixel budget upper bound (HPSv3: 200704).</param>
/// <param name="TokenizerDir">Where the tokenizer files are when the model folder has none.</param>
/// <param name="WeightDigestMemo">Where weight-file digests are remembered (default: beside the score cache, see <see cref="Core.Safetensors.WeightDigest"/>).</param>
public sealed record HpsScorerOptions(
    Precision Dtype = Precision.Bf16,
    DeviceSpec Device = default,
    int BatchSize = 4,
    int MinPixels = SmartResize.Hpsv3Pixels,
    int MaxPixels = SmartResize.Hpsv3Pixels,
    string? TokenizerDir = null,
    string? WeightDigestMemo = null)
{
    internal void Validate()
    {
        if (BatchSize < 0)
        {
            throw UserInputException.ForOption(nameof(BatchSize), $"must be at least 1, or 0 for automatic (got {BatchSize})");
        }

        if (MinPixels < 1 || MaxPixels < MinPixels)
        {
            throw UserInputException.ForOption(nameof(MinPixels), $"need 1 ≤ {new OptionField(nameof(MinPixels))} ≤ {new OptionField(nameof(MaxPixels))} (got {MinPixels}, {MaxPixels})");
        }
    }
}
