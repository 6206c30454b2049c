using System.Text.Json;
using SkiaSharp;

namespace HpsSharp.Training.Tests;

/// <summary>
/// A synthetic preference task on real (tiny) images: the prompt names a colour; the preferred image is the one whose
/// dominant colour is that colour, the other image is dominated by another colour; both carry pixel noise. Optionally
/// a share of training pairs is made ambiguous (both images equally matching: same dominant colour).
/// </summary>
internal static class SyntheticTask
{
    private static readonly (string Word, byte R, byte G, byte B)[] Colors =
    {
        ("red", 220, 30, 30), ("green", 30, 200, 40), ("blue", 30, 40, 220),
    };

    public sealed record Written(string File, int Pairs, int Ambiguous);

    public static Written Write(string dir, string name, int pairs, int seed, int size = 56, double ambiguousShare = 0, int words = 3)
    {
        var rng = new Random(seed);
        var items = new List<object>();
        int ambiguous = 0;
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        for (int i = 0; i < pairs; i++)
        {
            int w = rng.Next(words);
            bool amb = rng.NextDouble() < ambiguousShare;
            int other = amb ? w : (w + 1 + rng.Next(Colors.Length - 1)) % Colors.Length;
            ambiguous += amb ? 1 : 0;
            var p1 = $"images/{name}-{i}-a.png";
            var p2 = $"images/{name}-{i}-b.png";
            Png(Path.Combine(dir, p1), Colors[w], rng, size);
            Png(Path.Combine(dir, p2), Colors[other], rng, size);
            items.Add(new Dictionary<string, object>
            {
                ["prompt"] = $"a picture that is mostly {Colors[w].Word}",
                ["path1"] = p1,
                ["path2"] = p2,
                ["confidence"] = 0.99,
                ["choice_dist"] = amb ? new[] { 5, 5 } : new[] { 9, 1 },
                ["ambiguous"] = amb,
            });
        }

        var file = Path.Combine(dir, name + ".json");
        File.WriteAllText(file, JsonSerializer.Serialize(items));
        return new Written(file, pairs, ambiguous);
    }

    private static void Png(string path, (string Word, byte R, byte G, byte B) c, Random rng, int size)
    {
        using var bmp = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                // Noise: ±60 per channel, and a random patch of grey in a quarter of the image.
                bool patch = (x / (size / 2)) == 0 && (y / (size / 2)) == (rng.Next(8) == 0 ? 0 : 1) && rng.Next(3) == 0;
                byte N(byte v) => (byte)Math.Clamp(v + rng.Next(-60, 61), 0, 255);
                var col = patch ? new SKColor(128, 128, 128) : new SKColor(N(c.R), N(c.G), N(c.B));
                bmp.SetPixel(x, y, col);
            }
        }

        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }
}
