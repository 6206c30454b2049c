using HpsSharp.Core.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Clip;

/// <summary>
/// HPSv2's evaluation transform (SCORERS.md §3.2, the fork's <c>ResizeMaxSize</c>): the RGB image becomes a float
/// tensor in [0, 1] first, its longest side is resized to <c>S</c> with libtorch's bicubic <c>interpolate</c>
/// (<c>new = round(h·S/max, w·S/max)</c>, half to even; antialias on by default as torchvision ≥ 0.17 does), it is
/// zero-padded to S×S (left/top get the floor half), then normalised. An image whose longest side already is S is
/// padded too (the original would hand a non-square tensor to the model and fail).
/// </summary>
public static class Hpsv2Transform
{
    /// <summary>The resized size (height, width) before padding.</summary>
    public static (int Height, int Width) ResizedSize(int height, int width, int size)
    {
        double scale = (double)size / Math.Max(height, width);
        if (scale == 1.0)
        {
            return (height, width);
        }

        return ((int)Math.Round(height * scale, MidpointRounding.ToEven), (int)Math.Round(width * scale, MidpointRounding.ToEven));
    }

    /// <summary>Pixel values [3, S, S] float32 on the CPU.</summary>
    public static Tensor Preprocess(RgbImage image, int size, bool antialias = true)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var scope = NewDisposeScope();
        var u8 = tensor(image.Pixels, [image.Height, image.Width, 3], ScalarType.Byte);
        var x = u8.permute(2, 0, 1).contiguous().to(ScalarType.Float32).div(255f);
        var (h, w) = ResizedSize(image.Height, image.Width, size);
        if (h != image.Height || w != image.Width)
        {
            x = nn.functional.interpolate(x.unsqueeze(0), [h, w], mode: InterpolationMode.Bicubic, align_corners: false, antialias: antialias).squeeze(0);
        }

        int pw = size - w, ph = size - h;
        if (pw != 0 || ph != 0)
        {
            x = nn.functional.pad(x, [pw / 2, pw - (pw / 2), ph / 2, ph - (ph / 2)], PaddingModes.Constant, 0);
        }

        var mean = tensor(ClipImageProcessor.Mean, [3, 1, 1]);
        var std = tensor(ClipImageProcessor.Std, [3, 1, 1]);
        return x.sub(mean).div(std).MoveToOuterDisposeScope();
    }
}
