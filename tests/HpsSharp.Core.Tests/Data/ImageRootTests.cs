using HpsSharp.Core.Data;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Data;

[Trait("Category", "Unit")]
public sealed class ImageRootTests
{
    [Theory]
    [InlineData("images/a.jpg", "images/a.jpg")]
    [InlineData("images\\sub\\a.jpg", "images/sub/a.jpg")]
    [InlineData("./images/../b.png", "b.png")]
    public void ResolvesInsideTheRoot(string relative, string expected)
    {
        using var dir = TestPaths.TempDir();
        Assert.Equal(Path.Combine(dir.Path, expected), ImageRoot.Resolve(dir.Path, relative));
    }

    [Theory]
    [InlineData("../x.jpg")]
    [InlineData("images/../../x.jpg")]
    [InlineData("/etc/passwd")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    public void RefusesPathsOutsideTheRoot(string relative)
    {
        using var dir = TestPaths.TempDir();
        var ex = Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(dir.Path, relative));
        Assert.Equal(relative, ex.ImagePath);
    }

    [Fact]
    public void RefusesSiblingFolderWithSamePrefixAndAcceptsAbsoluteInside()
    {
        using var dir = TestPaths.TempDir();
        var root = Path.Combine(dir.Path, "root");
        Directory.CreateDirectory(root);
        Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "../root2/a.jpg"));
        Assert.Equal(Path.Combine(root, "a.jpg"), ImageRoot.Resolve(root, Path.Combine(root, "a.jpg")));
    }

    [Fact]
    public void RefusesSymbolicLinksThatLeaveTheRoot()
    {
        using var dir = TestPaths.TempDir();
        var root = Path.Combine(dir.Path, "root");
        var outside = Path.Combine(dir.Path, "outside");
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "secret.jpg"), "x");
        Directory.CreateSymbolicLink(Path.Combine(root, "link"), outside);
        File.CreateSymbolicLink(Path.Combine(root, "file.jpg"), Path.Combine(outside, "secret.jpg"));
        Assert.Contains("link to", Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "link/secret.jpg")).Reason, StringComparison.Ordinal);
        Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "file.jpg"));
    }
}
