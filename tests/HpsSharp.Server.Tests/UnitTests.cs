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
