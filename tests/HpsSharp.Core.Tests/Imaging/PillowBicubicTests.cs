using System.Security.Cryptography;
using System.Text.Json;
using HpsSharp.Core.Imaging;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Imaging;

[Trait("Category", "Unit")]
public sealed class PillowBicubicTests
{
    public static TheoryData<string> ResizeCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in ImagingFixtures.Manifest().GetProperty("resize").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ResizeCases))]
    public void MatchesPillowBitForBit(string name)
    {
        var c = ImagingFixtures.Manifest().GetProperty("resize").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        int iw = c.GetProperty("in_width").GetInt32(), ih = c.GetProperty("in_height").GetInt32();
        int ow = c.GetProperty("out_width").GetInt32(), oh = c.GetProperty("out_height").GetInt32();
        var input = new RgbImage(iw, ih, File.ReadAllBytes(ImagingFixtures.File(c.GetProperty("input").GetString()!)));
        var expected = File.ReadAllBytes(ImagingFixtures.File(c.GetProperty("expected").GetString()!));

        var actual = PillowBicubic.Resize(input, ow, oh);
        ImagingAssert.BytesEqual(expected, actual.Pixels, ow, name);

        // The same through a 4-byte-per-pixel source (the decoder's layout) and with SIMD off.
        var rgbx = ToRgbx(input.Pixels);
        foreach (var (stride, src) in new[] { (3, input.Pixels), (4, rgbx) })
        {
            foreach (bool simd in new[] { true, false })
            {
                var dst = new byte[ow * oh * 3];
                PillowBicubic.Resize(src, iw, ih, stride, dst, ow, oh, simd);
                ImagingAssert.BytesEqual(expected, dst, ow, $"{name} stride {stride} simd {simd}");
            }
        }
    }

    [Fact]
    public void SimdAndScalarAgreeOnRandomSizes()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 40; trial++)
        {
            int iw = rng.Next(1, 90), ih = rng.Next(1, 90), ow = rng.Next(1, 120), oh = rng.Next(1, 120);
            int stride = 3 + (trial & 1);
            var src = new byte[iw * ih * stride]; // exactly sized: the last pixel's SIMD loads must not overrun
            rng.NextBytes(src);
            var a = new byte[ow * oh * 3];
            var b = new byte[ow * oh * 3];
            PillowBicubic.Resize(src, iw, ih, stride, a, ow, oh, allowSimd: true);
            PillowBicubic.Resize(src, iw, ih, stride, b, ow, oh, allowSimd: false);
            ImagingAssert.BytesEqual(b, a, ow, $"{iw}x{ih} -> {ow}x{oh}, stride {stride}");
        }
    }

    [Fact]
    public void SameSizeIsACopy()
    {
        var px = new byte[5 * 4 * 3];
        new Random(1).NextBytes(px);
        var output = PillowBicubic.Resize(new RgbImage(5, 4, px), 5, 4);
        Assert.Equal(px, output.Pixels);
        Assert.NotSame(px, output.Pixels);
    }

    [Fact]
    public void CoefficientsSumToOneInFixedPointAndCoverTheImage()
    {
        foreach (var (inSize, outSize) in new[] { (1024, 448), (300, 560), (7, 28), (1411, 448) })
        {
            var c = PillowBicubic.Coefficients.Compute(inSize, outSize);
            for (int i = 0; i < outSize; i++)
            {
                int xmin = c.Bounds[2 * i], n = c.Bounds[2 * i + 1];
                Assert.InRange(xmin, 0, inSize - 1);
                Assert.InRange(xmin + n, 1, inSize);
                long sum = 0;
                for (int j = 0; j < n; j++)
                {
                    sum += c.K[i * c.KSize + j];
                }

                // Each rounded coefficient is within 0.5 of exact: the sum is 2^22 give or take n/2.
                Assert.InRange(sum, (1 << 22) - n, (1 << 22) + n);
            }
        }
    }

    private static byte[] ToRgbx(byte[] rgb)
    {
        var rgbx = new byte[rgb.Length / 3 * 4];
        for (int s = 0, d = 0; s < rgb.Length; s += 3, d += 4)
        {
            rgbx[d] = rgb[s];
            rgbx[d + 1] = rgb[s + 1];
            rgbx[d + 2] = rgb[s + 2];
            rgbx[d + 3] = 0xA5; // must be ignored
        }

        return rgbx;
    }
}

/// <summary>The synthetic Pillow goldens in tests/fixtures/imaging (tools/fixtures/make_imaging_fixtures.py).</summary>
internal static class ImagingFixtures
{
    private static readonly Lazy<JsonElement> Cases = new(() =>
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(TestPaths.Fixture("imaging/cases.json")));
        return doc.RootElement.Clone();
    });

    public static JsonElement Manifest() => Cases.Value;

    public static string File(string name) => TestPaths.Fixture(Path.Combine("imaging", name));
}

internal static class ImagingAssert
{
    /// <summary>Exact byte equality that reports the first differing pixel, channel and both values.</summary>
    public static void BytesEqual(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, int width, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {actual.Length}, expected {expected.Length}");
        int diffs = 0, first = -1, maxDiff = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(expected[i] - actual[i]);
            if (d != 0)
            {
                diffs++;
                maxDiff = Math.Max(maxDiff, d);
                if (first < 0)
                {
                    first = i;
                }
            }
        }

        if (diffs > 0)
        {
            int px = first / 3;
            Assert.Fail($"{what}: {diffs} byte(s) differ (max {maxDiff}); first at x={px % width}, y={px / width}, channel {first % 3}: expected {expected[first]}, got {actual[first]}");
        }
    }

    /// <summary>Largest absolute difference of two byte arrays of equal length.</summary>
    public static int MaxAbsDiff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Assert.Equal(a.Length, b.Length);
        int m = 0;
        for (int i = 0; i < a.Length; i++)
        {
            m = Math.Max(m, Math.Abs(a[i] - b[i]));
        }

        return m;
    }

    public static string Sha256(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));
}
