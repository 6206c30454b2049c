using System.Text.Json;
using HpsSharp.Core.Imaging;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Imaging;

[Trait("Category", "Unit")]
public sealed class SmartResizeTests
{
    [Fact]
    public void MatchesEveryFixtureRow()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("preprocess/cases.json")));
        int n = 0;
        foreach (var row in doc.RootElement.GetProperty("smart_resize").EnumerateArray())
        {
            int h = row.GetProperty("height").GetInt32();
            int w = row.GetProperty("width").GetInt32();
            var actual = SmartResize.Compute(h, w, 28, row.GetProperty("min_pixels").GetInt32(), row.GetProperty("max_pixels").GetInt32());
            Assert.Equal((row.GetProperty("resized_height").GetInt32(), row.GetProperty("resized_width").GetInt32()), actual);
            n++;
        }

        Assert.True(n >= 10, $"only {n} smart_resize rows in the fixture");
    }

    [Theory]
    [InlineData(1024, 1024, 448, 448)]
    [InlineData(512, 512, 448, 448)]
    [InlineData(1024, 768, 504, 364)]
    [InlineData(768, 1024, 364, 504)]
    [InlineData(1080, 1920, 336, 588)]
    [InlineData(896, 1152, 392, 504)]
    [InlineData(300, 200, 560, 392)] // the ceil branch overshoots the budget: 280 tokens
    public void HpsV3BudgetExamplesFromTheSpec(int h, int w, int eh, int ew)
    {
        Assert.Equal((eh, ew), SmartResize.Compute(h, w));
    }

    [Theory]
    [InlineData(70, 70, 56, 56)]     // 2.5 rounds to 2 (half to even)
    [InlineData(126, 126, 112, 112)] // 4.5 rounds to 4
    [InlineData(98, 98, 112, 112)]   // 3.5 rounds to 4
    [InlineData(480, 640, 476, 644)]
    public void RoundsHalfToEvenWithProcessorLimits(int h, int w, int eh, int ew)
    {
        Assert.Equal((eh, ew), SmartResize.Compute(h, w, 28, 3136, 12845056));
    }

    [Fact]
    public void AspectRatioOver200IsRefusedAnd200IsAccepted()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => SmartResize.Compute(10, 2001));
        Assert.Contains("aspect ratio", ex.Message, StringComparison.Ordinal);
        var ok = SmartResize.Compute(10, 2000, 28, 3136, 12845056);
        Assert.Equal((28, 1988), ok);
    }

    [Fact]
    public void ProcessorWrapsAspectRatioInImageDecodeException()
    {
        var processor = new Qwen2VLImageProcessor();
        var rgb = new byte[1 * 300 * 3];
        var ex = Assert.Throws<ImageDecodeException>(() => processor.Process(HpsSharp.Core.Scoring.ImageInput.FromRgb(rgb, 300, 1, "strip.raw")));
        Assert.Equal("strip.raw", ex.Source);
        Assert.Contains("aspect ratio", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void OnlyTheImagesOwnFaultBecomesAnImageError()
    {
        // A caller's bad arguments are bugs: they propagate as argument errors instead of passing as a bad image.
        var processor = new Qwen2VLImageProcessor();
        Assert.Throws<ArgumentOutOfRangeException>(() => processor.TargetSize(0, 100));
        Assert.IsType<ImageDecodeException>(Assert.ThrowsAny<Exception>(() => processor.TargetSize(1, 300, "strip")));
    }

    [Fact]
    public void BudgetIsConfigurable()
    {
        var processor = new Qwen2VLImageProcessor(new ImageProcessorOptions(MinPixels: 3136, MaxPixels: 1003520));
        Assert.Equal((728, 1316), processor.TargetSize(1080, 1920));
        Assert.Equal((448, 448), new Qwen2VLImageProcessor().TargetSize(1024, 1024));
    }
}
