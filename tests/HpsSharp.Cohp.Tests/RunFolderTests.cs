using HpsSharp.Core.Data;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cohp.Tests;

[Trait("Category", "Unit")]
public sealed class RunFolderTests
{
    [Fact]
    public void FileNamesFromRunJsonStayInsideTheRunFolder()
    {
        using var dir = TestPaths.TempDir();
        var folder = new RunFolder(Path.Combine(dir.Path, "run"));
        Assert.Equal(Path.Combine(folder.Path, "images", "a.png"), folder.Full("images/a.png"));

        // A resumed run reads these names back from run.json: an edited one must not reach outside the folder.
        Assert.Equal(ImagePathProblem.LeavesRoot, Assert.Throws<ImagePathException>(() => folder.Full("../secret.png")).Problem);
        Assert.Equal(ImagePathProblem.AbsoluteOutside, Assert.Throws<ImagePathException>(() => folder.Full("/etc/passwd")).Problem);
    }
}
