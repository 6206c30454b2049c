using HpsSharp.Modeling.Scorers;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Scorers.Tests;

/// <summary>The baseline scorers' fingerprint (the score cache key) follows the checkpoint's bytes, not its metadata.</summary>
[Trait("Category", "Unit")]
public sealed class ScorerFingerprintTests
{
    [Fact]
    public void AChangedCheckpointWithTheSameNameSizeAndTimeGetsAnotherFingerprint()
    {
        using var dir = TestPaths.TempDir();
        string a = Path.Combine(dir.Path, "a", "model.safetensors");
        string b = Path.Combine(dir.Path, "b", "model.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(a)!);
        Directory.CreateDirectory(Path.GetDirectoryName(b)!);
        File.Copy(TestPaths.Fixture("scorers/pickscore/model.safetensors"), a);
        var bytes = File.ReadAllBytes(a);
        bytes[^1] ^= 0x01;                                        // one weight byte differs; name and size do not
        File.WriteAllBytes(b, bytes);
        File.SetLastWriteTimeUtc(b, File.GetLastWriteTimeUtc(a));

        string fa = ClipFamilyScorer.Fingerprint("pickscore", [a], "fp32");
        Assert.Equal(fa, ClipFamilyScorer.Fingerprint("pickscore", [a], "fp32"));
        Assert.NotEqual(fa, ClipFamilyScorer.Fingerprint("pickscore", [b], "fp32"));
        Assert.NotEqual(fa, ClipFamilyScorer.Fingerprint("clipscore", [a], "fp32"));
    }
}
