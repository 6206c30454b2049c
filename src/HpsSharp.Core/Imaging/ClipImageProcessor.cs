namespace HpsSharp.Core.Imaging;

/// <summary>The two PIL-based CLIP image pipelines (SCORERS.md §1.6).</summary>
public enum ClipPipeline
{
    /// <summary>transformers' <c>CLIPImageProcessor</c> (PickScore, CLIPScore): centre crop at <c>(H − S) // 2</c>, <c>float32(u8 · (1/255) in float64)</c>.</summary>
    HuggingFace,

    /// <summary>openai/CLIP <c>_transform</c> (the aesthetic predictor): centre crop at <c>round((H − S) / 2)</c> (half to even), <c>float32(u8) / 255</c>.</summary>
    OpenAI,
}

/// <summary>
/// CLIP's resize-shortest-side, centre-crop and normalise, bit-exact with the PIL pipelines: Pillow's BICUBIC
/// resampling (<see cref="PillowBicubic"/>) to a short side of <c>S</c> and a long side of <c>int(S·long/short)</c>,
/// a centre crop, then the two float32 steps. Images are decoded to RGB first; resizing a grey image then converting
/// (OpenAI's order) gives the same bytes as converting then resizing, but palette and RGBA images, which OpenAI's
/// code resizes in their own mode, are resized here after the RGB conversion.
/// </summary>
public static class ClipImageProcessor
{
    /// <summary>CLIP's normalisation mean (the OpenAI values used by every CLIP checkpoint here).</summary>
    public static readonly float[] Mean = [0.48145466f, 0.4578275f, 0.40821073f];

    /// <summary>CLIP's normalisation standard deviation.</summary>
    public static readonly float[] Std = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>The size after "shortest side → <paramref name="size"/>" (long side truncated, as torchvision and HF do).</summary>
    public static (int Width, int Height) ShortestSide(int width, int height, int size)
    {
        if (width <= height)
        {
            return (size, (int)((long)size * height / width));
        }

        return ((int)((long)size * width / height), size);
    }

    /// <summary>The crop's top-left corner inside the resized image.</summary>
    public static (int Left, int Top) CropOrigin(int width, int height, int size, ClipPipeline pipeline) => pipeline switch
    {
        ClipPipeline.HuggingFace => ((width - size) / 2, (height - size) / 2),
        _ => ((int)Math.Round((width - size) / 2.0, MidpointRounding.ToEven), (int)Math.Round((height - size) / 2.0, MidpointRounding.ToEven)),
    };

    /// <summary>The resized and cropped 8-bit RGB image, <paramref name="size"/>×<paramref name="size"/> (the input of the float steps).</summary>
    public static RgbImage ResizeAndCrop(RgbImage image, int size, ClipPipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        var (w, h) = ShortestSide(image.Width, image.Height, size);
        var resized = PillowBicubic.Resize(image, w, h);
        var (left, top) = CropOrigin(w, h, size, pipeline);
        var crop = new byte[size * size * 3];
        for (int y = 0; y < size; y++)
        {
            Array.Copy(resized.Pixels, (((top + y) * w) + left) * 3, crop, y * size * 3, size * 3);
        }

        return new RgbImage(size, size, crop);
    }

    /// <summary>Pixel values [3, S, S] (channel-major, row-major), normalised, exactly as the pipeline computes them.</summary>
    public static float[] Preprocess(RgbImage image, int size, ClipPipeline pipeline)
    {
        var crop = ResizeAndCrop(image, size, pipeline);
        int plane = size * size;
        var output = new float[3 * plane];
        const double inv255 = 1.0 / 255;
        for (int i = 0; i < plane; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                byte u = crop.Pixels[(i * 3) + c];
                float x = pipeline == ClipPipeline.HuggingFace ? (float)(u * inv255) : u / 255f;
                output[(c * plane) + i] = (x - Mean[c]) / Std[c];
            }
        }

        return output;
    }
}
