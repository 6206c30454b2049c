using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Diagnostics.Tests;

[Trait("Category", "Unit")]
public sealed class ElfVersionsTests
{
    [Fact]
    public void TheCopyBesideTheTests_HasGlibcxx3432MarkedWeak()
    {
        // The build step in Directory.Build.targets must have patched the copy in this test's output.
        var bridge = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(bridge), bridge);
        var need = Assert.Single(ElfVersions.ReadNeeds(bridge), n => n.Version == "GLIBCXX_3.4.32");
        Assert.Equal("libstdc++.so.6", need.File);
        Assert.True(need.Weak);
        Assert.Contains(ElfVersions.ReadNeeds(bridge), n => n.Version.StartsWith("GLIBC_", StringComparison.Ordinal) && !n.Weak);
    }

    [Fact]
    public void ThePackageOriginal_IsNotPatched_SoTheReaderTellsThemApart()
    {
        // The NuGet cache keeps the file as TorchSharp ships it (the build patches copies only).
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var original = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(original), original);
        Assert.False(ElfVersions.ReadNeeds(original).Single(n => n.Version == "GLIBCXX_3.4.32").Weak);
    }

    [Fact]
    public void NotElf_HasNoNeeds()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp.File("x.so"), "not an ELF file at all, but longer than sixty-four bytes for the header check.");
        Assert.Empty(ElfVersions.ReadNeeds(tmp.File("x.so")));
    }

    [Fact]
    public void MaxGlibcxx_ReadsTheVersionStrings()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllBytes(tmp.File("libstdc++.so.6"), System.Text.Encoding.ASCII.GetBytes("\0GLIBCXX_3.4.9\0GLIBCXX_3.4.30\0GLIBCXX_3.4\0CXXABI_1.3\0"));
        Assert.Equal(new Version(3, 4, 30), ElfVersions.MaxGlibcxx(tmp.File("libstdc++.so.6")));
    }
}
