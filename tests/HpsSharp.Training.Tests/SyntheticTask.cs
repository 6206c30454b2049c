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

    /// <summary>Phrasings of the bright/dark task seen in training.</summary>
    public static readonly string[] TrainPhrasings =
    [
        "a {0} scene", "a photo of a {0} room", "the picture is {0}", "show me a {0} forest", "an image that is {0}",
        "a {0} picture of a house", "{0} light everywhere", "a street that looks {0}",
    ];

    /// <summary>Phrasings never seen in training (held out).</summary>
    public static readonly string[] HeldOutPhrasings =
    [
        "please make it {0}", "the whole view should be {0}", "a {0} view of the sea", "i would like something {0}",
    ];

    /// <summary>
    /// A task whose answer is in the words: every image pair is one bright and one dark image (random tint and noise),
    /// used twice — with a prompt asking for a bright scene (the bright image preferred) and with one asking for a dark
    /// scene (the dark image preferred). Any scorer that ignores the prompt ranks both copies the same way, so it is
    /// right on exactly half of them. With <paramref name="withWord"/> false the prompts carry no brightness word
    /// (the image-only control: the labels are then unlearnable).
    /// </summary>
    public static Written WriteBrightDark(string dir, string name, int imagePairs, int seed, IReadOnlyList<string> phrasings, bool withWord = true, int size = 56)
    {
        var rng = new Random(seed);
        var items = new List<object>();
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        for (int i = 0; i < imagePairs; i++)
        {
            var bright = $"images/{name}-{i}-bright.png";
            var dark = $"images/{name}-{i}-dark.png";
            Shade(Path.Combine(dir, bright), rng, size, 150, 255);
            Shade(Path.Combine(dir, dark), rng, size, 0, 105);
            foreach (var (word, preferred, other) in new[] { ("bright", bright, dark), ("dark", dark, bright) })
            {
                var template = phrasings[rng.Next(phrasings.Count)];
                items.Add(new Dictionary<string, object>
                {
                    ["prompt"] = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, withWord ? word : "plain"),
                    ["path1"] = preferred,
                    ["path2"] = other,
                    ["confidence"] = 0.99,
                    ["choice_dist"] = new[] { 9, 1 },
                });
            }
        }

        // Shuffle so that a batch is not always a mirrored couple.
        var shuffled = items.OrderBy(_ => rng.Next()).ToList();
        var file = Path.Combine(dir, name + ".json");
        File.WriteAllText(file, JsonSerializer.Serialize(shuffled));
        return new Written(file, shuffled.Count, 0);
    }

    /// <summary>A noisy image with a random tint whose channel values lie in [lo, hi].</summary>
    private static void Shade(string path, Random rng, int size, int lo, int hi)
    {
        using var bmp = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Opaque);
        int span = hi - lo;
        int tr = rng.Next(span / 3), tg = rng.Next(span / 3), tb = rng.Next(span / 3);
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                byte C(int tint) => (byte)Math.Clamp(lo + tint + rng.Next(span - span / 3), lo, hi);
                bmp.SetPixel(x, y, new SKColor(C(tr), C(tg), C(tb)));
            }
        }

        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
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
