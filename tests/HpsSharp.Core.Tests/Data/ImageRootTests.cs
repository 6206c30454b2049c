using System.Diagnostics;
using HpsSharp.Core.Data;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Data;

/// <summary>
/// The one test set for the path-containment policy that evaluation, training, annotation, CoHP and the service share
/// (<see cref="ImageRoot.Resolve"/>): traversal, absolute paths, symbolic links, and what must be at the path.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ImageRootTests
{
    [Theory]
    [InlineData("images/a.jpg", "images/a.jpg")]
    [InlineData("images\\sub\\a.jpg", "images/sub/a.jpg")]
    [InlineData("./images/../b.png", "b.png")]
    [InlineData("images//./a.jpg", "images/a.jpg")]
    public void ResolvesInsideTheRoot(string relative, string expected)
    {
        using var dir = TestPaths.TempDir();
        Assert.Equal(Path.Combine(dir.Path, expected), ImageRoot.Resolve(dir.Path, relative));
    }

    [Theory]
    [InlineData("../x.jpg", ImagePathProblem.LeavesRoot)]
    [InlineData("images/../../x.jpg", ImagePathProblem.LeavesRoot)]
    [InlineData("..\\x.jpg", ImagePathProblem.LeavesRoot)]
    [InlineData("/etc/passwd", ImagePathProblem.AbsoluteOutside)]
    [InlineData("..", ImagePathProblem.LeavesRoot)]
    [InlineData(".", ImagePathProblem.LeavesRoot)]
    [InlineData("", ImagePathProblem.Malformed)]
    [InlineData("a\0.jpg", ImagePathProblem.Malformed)]
    public void RefusesPathsOutsideTheRoot(string relative, ImagePathProblem problem)
    {
        using var dir = TestPaths.TempDir();
        var ex = Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(dir.Path, relative));
        Assert.Equal(relative, ex.ImagePath);
        Assert.Equal(problem, ex.Problem);
    }

    [Fact]
    public void AStepOutOfTheRootIsRefusedEvenWhenThePathComesBack()
    {
        using var dir = TestPaths.TempDir();
        var root = Path.Combine(dir.Path, "root");
        Directory.CreateDirectory(root);
        Assert.Equal(ImagePathProblem.LeavesRoot, Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "a/../../root/x.jpg")).Problem);
        Assert.Equal(ImagePathProblem.LeavesRoot, Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "../root2/a.jpg")).Problem);
    }

    [Fact]
    public void AbsolutePathsAreAcceptedOnlyUnderTheRoot()
    {
        using var dir = TestPaths.TempDir();
        var root = Path.Combine(dir.Path, "root");
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(Path.Combine(dir.Path, "root2"));
        Assert.Equal(Path.Combine(root, "a.jpg"), ImageRoot.Resolve(root, Path.Combine(root, "a.jpg")));
        Assert.Equal(Path.Combine(root, "a.jpg"), ImageRoot.Resolve(root + "/", Path.Combine(root, "sub", "..", "a.jpg")));
        var sibling = Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, Path.Combine(dir.Path, "root2", "a.jpg")));
        Assert.Equal(ImagePathProblem.AbsoluteOutside, sibling.Problem); // same prefix, another folder
        Assert.Equal(ImagePathProblem.LeavesRoot, Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, root)).Problem); // the root itself is no file
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
        File.CreateSymbolicLink(Path.Combine(root, "relative.jpg"), "../outside/secret.jpg");
        var viaFolder = Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "link/secret.jpg"));
        Assert.Contains("link to", viaFolder.Reason, StringComparison.Ordinal);
        Assert.Equal(ImagePathProblem.LinkOutside, viaFolder.Problem);
        Assert.Equal(ImagePathProblem.LinkOutside, Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "file.jpg")).Problem);
        Assert.Equal(ImagePathProblem.LinkOutside, Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, "relative.jpg")).Problem);
        Assert.Equal(ImagePathProblem.LinkOutside, Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(root, Path.Combine(root, "link", "secret.jpg"))).Problem);
    }

    [Fact]
    public void LinksInsideTheRootResolveToTheirTargetAsTheFileSystemDoes()
    {
        using var dir = TestPaths.TempDir();
        var root = Path.Combine(dir.Path, "root");
        Directory.CreateDirectory(Path.Combine(root, "data", "deep"));
        File.WriteAllText(Path.Combine(root, "data", "a.jpg"), "x");
        Directory.CreateSymbolicLink(Path.Combine(root, "alias"), Path.Combine(root, "data", "deep"));
        File.CreateSymbolicLink(Path.Combine(root, "a-link.jpg"), "data/a.jpg");

        Assert.Equal(Path.Combine(root, "data", "a.jpg"), ImageRoot.Resolve(root, "a-link.jpg"));

        // alias/.. is the link target's parent (data), not the root: the walk follows the file system, not the spelling.
        Assert.Equal(Path.Combine(root, "data", "a.jpg"), ImageRoot.Resolve(root, "alias/../a.jpg"));
    }

    [Fact]
    public void ARootThatIsALinkAcceptsAbsolutePathsSpelledEitherWay()
    {
        using var dir = TestPaths.TempDir();
        var real = Path.Combine(dir.Path, "real");
        Directory.CreateDirectory(real);
        var link = Path.Combine(dir.Path, "root-link");
        Directory.CreateSymbolicLink(link, real);
        Assert.Equal(Path.Combine(real, "a.jpg"), ImageRoot.Resolve(link, "a.jpg"));
        Assert.Equal(Path.Combine(real, "a.jpg"), ImageRoot.Resolve(link, Path.Combine(link, "a.jpg")));
        Assert.Equal(Path.Combine(real, "a.jpg"), ImageRoot.Resolve(link, Path.Combine(real, "a.jpg")));
    }

    [Fact]
    public async Task RegularFileRequirementRefusesFifosFoldersEmptyAndMissingFiles()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllBytes(Path.Combine(dir.Path, "ok.png"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(dir.Path, "empty.png"), []);
        Directory.CreateDirectory(Path.Combine(dir.Path, "folder.png"));
        using (var mkfifo = Process.Start("mkfifo", Path.Combine(dir.Path, "fifo.png")))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        Assert.Equal(Path.Combine(dir.Path, "ok.png"), ImageRoot.Resolve(dir.Path, "ok.png", ImageRootRequirement.RegularFile));
        foreach (var name in new[] { "fifo.png", "folder.png", "empty.png" })
        {
            var ex = Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(dir.Path, name, ImageRootRequirement.RegularFile));
            Assert.Equal(ImagePathProblem.NotRegularFile, ex.Problem);
            Assert.Equal(Path.Combine(dir.Path, name), ImageRoot.Resolve(dir.Path, name)); // Any: the caller decides
        }

        Assert.Equal(ImagePathProblem.Missing, Assert.Throws<ImagePathException>(() => ImageRoot.Resolve(dir.Path, "missing.png", ImageRootRequirement.RegularFile)).Problem);
    }
}
