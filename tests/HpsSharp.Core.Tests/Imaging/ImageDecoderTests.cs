using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Core.Tests.Imaging;

[Trait("Category", "Unit")]
public sealed class ImageDecoderTests(ITestOutputHelper output)
{
    public static TheoryData<string> DecodeCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in ImagingFixtures.Manifest().GetProperty("decode").EnumerateArray())
        {
            data.Add(c.GetProperty("file").GetString()!);
        }

        return data;
    }

    /// <summary>Every mode and container against Pillow's <c>convert("RGB")</c>: exact, except lossy formats within one 8-bit step.</summary>
    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void MatchesPillowConvertRgb(string file)
    {
        var c = ImagingFixtures.Manifest().GetProperty("decode").EnumerateArray().Single(e => e.GetProperty("file").GetString() == file);
        var expected = File.ReadAllBytes(ImagingFixtures.File(c.GetProperty("expected_rgb").GetString()!));
        int tolerance = c.GetProperty("max_abs_diff").GetInt32();
        string path = ImagingFixtures.File(file);

        var fromPath = ImageDecoder.Decode(ImageInput.FromPath(path));
        var fromBytes = ImageDecoder.Decode(ImageInput.FromBytes(File.ReadAllBytes(path), file));
        Assert.Equal(c.GetProperty("width").GetInt32(), fromPath.Width);
        Assert.Equal(c.GetProperty("height").GetInt32(), fromPath.Height);
        Assert.Equal(fromPath.Pixels, fromBytes.Pixels);

        int diff = ImagingAssert.MaxAbsDiff(expected, fromPath.Pixels);
        output.WriteLine($"{file} ({c.GetProperty("pil_mode").GetString()}): max |diff| = {diff}");
        if (tolerance == 0)
        {
            ImagingAssert.BytesEqual(expected, fromPath.Pixels, fromPath.Width, file);
        }
        else
        {
            Assert.True(diff <= tolerance, $"{file}: max |diff| {diff} > {tolerance}");
        }
    }

    [Theory]
    [InlineData("rgba.png", DecodeNotes.AlphaDropped)]
    [InlineData("grey16.png", DecodeNotes.SixteenBit)]
    [InlineData("rgba16.png", DecodeNotes.SixteenBit | DecodeNotes.AlphaDropped)]
    [InlineData("exif_rotated.jpg", DecodeNotes.ExifOrientationIgnored)]
    [InlineData("cmyk.jpg", DecodeNotes.Cmyk)]
    [InlineData("rgb.png", DecodeNotes.None)]
    public void NotesReportWhatDiffersFromAViewer(string file, DecodeNotes expected)
    {
        using var frame = ImageDecoder.DecodeFrame(ImageInput.FromPath(ImagingFixtures.File(file)), ImageDecoder.DefaultMaxPixels);
        Assert.Equal(expected, frame.Notes & expected);
        if (expected == DecodeNotes.None)
        {
            Assert.Equal(DecodeNotes.None, frame.Notes);
        }
    }

    [Fact]
    public void RawRgbIsPassedThrough()
    {
        var px = new byte[4 * 3 * 3];
        new Random(3).NextBytes(px);
        var image = ImageDecoder.Decode(ImageInput.FromRgb(px, 4, 3, "raw"));
        Assert.Equal((4, 3), (image.Width, image.Height));
        Assert.Equal(px, image.Pixels);
    }
}
