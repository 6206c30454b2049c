using System.Security.Cryptography;
using System.Text;
using SkiaSharp;

namespace HpsSharp.Testing.Generators;

/// <summary>
/// Deterministic images for fake generation servers: txt2img draws a seed- and prompt-dependent stripe pattern;
/// img2img blends the init image with the pattern of its seed by the strength (0 keeps the init image, 1 replaces it).
/// Same request, same bytes.
/// </summary>
public static class FakeImages
{
    /// <summary>The PNG a fake txt2img answers for this request.</summary>
    public static byte[] TextToImage(string prompt, long seed, int width, int height) => EncodePng(Pattern(prompt, seed, width, height), width, height);

    /// <summary>The PNG a fake img2img answers: (1 − strength)·init + strength·pattern(seed).</summary>
    public static byte[] ImageToImage(string prompt, long seed, byte[] initImage, double strength, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(initImage);
        var init = DecodeRgb(initImage, width, height);
        var pattern = Pattern(prompt, seed, width, height);
        var outRgb = new byte[pattern.Length];
        for (int i = 0; i < outRgb.Length; i++)
        {
            outRgb[i] = (byte)Math.Clamp(Math.Round(((1 - strength) * init[i]) + (strength * pattern[i])), 0, 255);
        }

        return EncodePng(outRgb, width, height);
    }

    /// <summary>Decodes an image to RGB bytes at the given size (resized when it differs).</summary>
    public static byte[] DecodeRgb(byte[] encoded, int width, int height)
    {
        using var decoded = SKBitmap.Decode(encoded) ?? throw new InvalidDataException("init image cannot be decoded");
        using var sized = decoded.Width == width && decoded.Height == height
            ? decoded.Copy(SKColorType.Rgba8888)
            : decoded.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear));
        var rgba = sized.Bytes; // Rgba8888, tightly packed rows
        int stride = sized.RowBytes;
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int i = (y * stride) + (x * 4);
                int o = ((y * width) + x) * 3;
                rgb[o] = rgba[i];
                rgb[o + 1] = rgba[i + 1];
                rgb[o + 2] = rgba[i + 2];
            }
        }

        return rgb;
    }

    private static byte[] Pattern(string prompt, long seed, int width, int height)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes($"{prompt}|{seed}"));
        int period = 4 + (h[0] % 12);
        var a = (h[1], h[2], h[3]);
        var b = (h[4], h[5], h[6]);
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int t = h[7] % 2 == 0 ? x + y : x + (height - y);
                bool stripe = (t / period) % 2 == 0;
                var (r, g, bl) = stripe ? a : b;
                int o = ((y * width) + x) * 3;
                rgb[o] = r;
                rgb[o + 1] = g;
                rgb[o + 2] = bl;
            }
        }

        return rgb;
    }

    private static byte[] EncodePng(byte[] rgb, int width, int height)
    {
        var rgba = new byte[width * height * 4];
        for (int p = 0, o = 0; p < rgb.Length; p += 3, o += 4)
        {
            rgba[o] = rgb[p];
            rgba[o + 1] = rgb[p + 1];
            rgba[o + 2] = rgb[p + 2];
            rgba[o + 3] = 255;
        }

        using var image = SKImage.FromPixelCopy(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque), rgba);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
