using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Server.Tests;

[Trait("Category", "Unit")]
public sealed class UnitTests
{
    [Fact]
    public void MetricsRenderCumulativeHistogramBuckets()
    {
        var m = new ServiceMetrics(maxBatchSize: 4);
        m.RecordBatch(1, 0.02);
        m.RecordBatch(3, 0.2);
        m.RecordBatch(4, 0.3);
        m.RecordItems("ok", 7);
        var text = m.Render();
        Assert.Contains("hps_batch_size_bucket{le=\"1\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"2\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"3\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"4\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_sum 8\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_count 3\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_duration_seconds_bucket{le=\"0.025\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_items_total{outcome=\"ok\"} 7\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_items_total{outcome=\"dropped\"} 0\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void GroupNormaliseIgnoresFailedItems()
    {
        var img = ImageInput.FromBytes(new byte[] { 1 });
        ParsedItem Item(string p) => new(new ScoreRequest(p, img), null);
        var items = new[] { Item("a"), Item("a"), new ParsedItem(null, "bad"), Item("b") };
        var results = new[] { ItemResultDto.From(new Score(1, 0), "hpsv3"), ItemResultDto.From(new Score(3, 0), "hpsv3"), ItemResultDto.Failed("bad", 400), ItemResultDto.From(new Score(7, 0), "hpsv3") };
        var z = ScoringEndpoints.GroupNormalize(items, results);
        Assert.Equal(-1.0, z[0].GroupZ);
        Assert.Equal(1.0, z[1].GroupZ);
        Assert.Null(z[2].GroupZ);
        Assert.Equal(0.0, z[3].GroupZ);
    }

    [Fact]
    public void OptionsOutOfRangeNameTheSetting()
    {
        var e = Assert.Throws<UserInputException>(() => new RewardServiceOptions { QueueCapacity = 4, MaxItemsPerRequest = 8 }.Validate());
        Assert.Equal("max items per request", e.Input);
        Assert.Throws<UserInputException>(() => new RewardServiceOptions { MaxBatchSize = 0 }.Validate());
        Assert.Throws<UserInputException>(() => new RewardServiceOptions { ImageRoot = "/no/such/folder/anywhere" }.Validate());
        new RewardServiceOptions().Validate();
    }

    [Fact]
    public void ResolveUnderRootRefusesEscapes()
    {
        using var root = new TempDir();
        File.WriteAllBytes(root.File("x.png"), [1]);
        Assert.Equal(root.File("x.png"), ImageReader.ResolveUnderRoot(root.Path, "x.png", "i"));
        Assert.Throws<ItemRejectedException>(() => ImageReader.ResolveUnderRoot(root.Path, "../x.png", "i"));
        Assert.Throws<ItemRejectedException>(() => ImageReader.ResolveUnderRoot(root.Path, "/etc/passwd", "i"));
        Assert.Equal(root.File("x.png"), ImageReader.ResolveUnderRoot(root.Path, root.File("x.png"), "i"));
        Assert.Throws<ItemRejectedException>(() => ImageReader.ResolveUnderRoot(root.Path, "", "i"));
        var e = Assert.Throws<ItemRejectedException>(() => ImageReader.ResolveUnderRoot(root.Path, "a/../../x.png", "items[2]"));
        Assert.Equal("items[2]", e.Item);
    }
}
