using System.Security.Cryptography;
using System.Text.Json;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Core.Tests.Imaging;

/// <summary>
/// Parity with the independent reference (../shared/fixtures/preprocess): PNG inputs bit-exact (decoded RGB, resized
/// RGB, every pixel value); JPEG inputs within one 8-bit step of the resized RGB (decoder differences), with pixel
/// values that are exactly the normalisation of our own resized bytes.
/// </summary>
[Trait("Category", "Unit")]
public sealed class PreprocessGoldenTests(ITestOutputHelper output)
{
    private static readonly Lazy<JsonElement> Cases = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("preprocess/cases.json")));
        return doc.RootElement.Clone();
    });

    public static TheoryData<string> Images()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases.Value.GetProperty("images").EnumerateArray())
        {
            data.Add(Path.GetFileName(c.GetProperty("image").GetString()!));
        }

        return data;
    }

    private static JsonElement Case(string file) =>
        Cases.Value.GetProperty("images").EnumerateArray().Single(c => Path.GetFileName(c.GetProperty("image").GetString()!) == file);

    [Theory]
    [MemberData(nameof(Images))]
    public void MatchesTheReference(string file)
    {
        var c = Case(file);
        bool jpeg = c.GetProperty("file_format").GetString() == "JPEG";
        string path = TestPaths.Image(file);
        Assert.Equal(c.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));
        using var st = SafetensorsFile.Open(TestPaths.Fixture("preprocess/" + c.GetProperty("tensors").GetString()));
        var processor = new Qwen2VLImageProcessor();
        var input = ImageInput.FromPath(path);

        // 1. Decode + convert("RGB").
        var decoded = ImageDecoder.Decode(input);
        Assert.Equal((c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32()), (decoded.Width, decoded.Height));
        bool decodedExact = ImagingAssert.Sha256(decoded.Pixels) == c.GetProperty("decoded_rgb_sha256").GetString();
        if (!jpeg)
        {
            Assert.True(decodedExact, $"{file}: decoded RGB differs from Pillow's");
        }

        // JPEG decoders may differ (IDCT, chroma upsampling): one 8-bit step is allowed then. Where our libjpeg-turbo
        // decodes exactly as the reference's (it does on these machines), everything downstream must be exact too.
        bool lossy = !decodedExact;

        // 2. smart_resize + Pillow bicubic.
        int h = c.GetProperty("resized_height").GetInt32(), w = c.GetProperty("resized_width").GetInt32();
        var resized = processor.Resize(input);
        Assert.Equal((w, h), (resized.Width, resized.Height));
        var expectedResized = st.ReadUInt8("resized_rgb_u8");
        Assert.Equal(new long[] { h, w, 3 }, st["resized_rgb_u8"].Shape);
        int maxDiff = ImagingAssert.MaxAbsDiff(expectedResized, resized.Pixels);
        int differing = 0;
        for (int i = 0; i < expectedResized.Length; i++)
        {
            differing += expectedResized[i] != resized.Pixels[i] ? 1 : 0;
        }

        output.WriteLine($"{file}: decoded RGB {(decodedExact ? "identical to" : "differs from")} libjpeg/Pillow; resized max |diff| = {maxDiff} ({differing} of {expectedResized.Length} bytes differ)");
        if (lossy)
        {
            Assert.True(maxDiff <= 1, $"{file}: resized RGB differs by {maxDiff} 8-bit steps (tolerance 1)");
        }
        else
        {
            ImagingAssert.BytesEqual(expectedResized, resized.Pixels, w, file);
        }

        // 3. pixel_values and grid.
        var processed = processor.Process(input);
        var grid = c.GetProperty("grid_thw").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(grid, new[] { processed.GridT, processed.GridH, processed.GridW });
        Assert.Equal(st.ReadInt64("image_grid_thw"), grid.Select(g => (long)g).ToArray());
        Assert.Equal(c.GetProperty("num_patches").GetInt32(), processed.Rows);
        Assert.Equal(c.GetProperty("num_image_tokens").GetInt32(), processed.MergedTokens);
        Assert.Equal(processed.Rows * ProcessedImage.RowLength, processed.PixelValues.Length);

        // Pixel values are a function of the resized bytes alone. (Process(RgbImage) would smart_resize again, and
        // smart_resize is not idempotent under a fixed budget: 392x560 is over 200704 pixels.)
        var fromResized = Qwen2VLImageProcessor.Patchify(resized.Pixels, resized.Width, resized.Height);
        Assert.Equal(processed.PixelValues, fromResized.PixelValues);

        var rowIndex = st.ReadInt64("pixel_values_row_index");
        var rows = st.ReadFloat32("pixel_values_rows");
        if (lossy)
        {
            // One 8-bit step is at most 1/255/min(std) ≈ 0.0152 after normalisation.
            AssertRows(processed.PixelValues, rowIndex, rows, 1.0 / 255 / 0.26130258 + 1e-6, file);
            var reference = Qwen2VLImageProcessor.Patchify(expectedResized, w, h);
            AssertRows(reference.PixelValues, rowIndex, rows, 1e-6, file + " (reference bytes)");
        }
        else
        {
            AssertRows(processed.PixelValues, rowIndex, rows, 1e-6, file);
            Assert.Equal(c.GetProperty("pixel_values_sha256").GetString(), Sha256(processed.PixelValues));
        }

        if (st.Contains("pixel_values"))
        {
            var full = st.ReadFloat32("pixel_values");
            Assert.Equal(new long[] { processed.Rows, ProcessedImage.RowLength }, st["pixel_values"].Shape);
            double tol = lossy ? 1.0 / 255 / 0.26130258 + 1e-6 : 1e-6;
            TensorClose(full, processed.PixelValues, tol, file + " full pixel_values");
        }
    }

    [Theory]
    [InlineData("chelsea", "chelsea.png")]
    [InlineData("coins", "coins.png")]
    [InlineData("rocket", "rocket.jpg")]
    public void MatchesTheModelCasePixelValues(string id, string file)
    {
        using var st = SafetensorsFile.Open(TestPaths.Fixture($"hpsv3-tiny/expected_{id}.safetensors"));
        var processed = new Qwen2VLImageProcessor().Process(ImageInput.FromPath(TestPaths.Image(file)));
        Assert.Equal(st.ReadInt64("image_grid_thw"), new long[] { processed.GridT, processed.GridH, processed.GridW });
        var expected = st.ReadFloat32("pixel_values");
        TensorClose(expected, processed.PixelValues, file.EndsWith(".jpg", StringComparison.Ordinal) ? 0.0153 : 1e-6, id);
    }

    [Fact]
    public void RawRgbAndEncodedBytesGiveTheSameResultAsAPath()
    {
        string path = TestPaths.Image("chelsea.png");
        var processor = new Qwen2VLImageProcessor();
        var fromPath = processor.Process(ImageInput.FromPath(path));
        var fromBytes = processor.Process(ImageInput.FromBytes(File.ReadAllBytes(path), "chelsea"));
        var rgb = ImageDecoder.Decode(ImageInput.FromPath(path));
        var fromRgb = processor.Process(ImageInput.FromRgb(rgb.Pixels, rgb.Width, rgb.Height));
        Assert.Equal(fromPath.PixelValues, fromBytes.PixelValues);
        Assert.Equal(fromPath.PixelValues, fromRgb.PixelValues);
    }

    private static void AssertRows(float[] actual, long[] rowIndex, float[] expectedRows, double tol, string what)
    {
        Assert.Equal(rowIndex.Length * ProcessedImage.RowLength, expectedRows.Length);
        for (int i = 0; i < rowIndex.Length; i++)
        {
            var e = expectedRows.AsSpan(i * ProcessedImage.RowLength, ProcessedImage.RowLength);
            var a = actual.AsSpan((int)rowIndex[i] * ProcessedImage.RowLength, ProcessedImage.RowLength);
            TensorClose(e.ToArray(), a.ToArray(), tol, $"{what} row {rowIndex[i]}");
        }
    }

    private static void TensorClose(float[] expected, float[] actual, double atol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        int worst = -1;
        double worstDiff = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (d > worstDiff)
            {
                worstDiff = d;
                worst = i;
            }
        }

        Assert.True(worstDiff <= atol, $"{what}: worst |diff| {worstDiff:g4} > {atol:g3} at element {worst} (row {worst / ProcessedImage.RowLength}, col {worst % ProcessedImage.RowLength}): expected {expected[worst]:R}, got {actual[worst]:R}");
    }

    private static string Sha256(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length); // little-endian on every supported platform
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }
}
