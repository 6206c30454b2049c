using System.Security.Cryptography;
using System.Text.Json;
using HpsSharp.Core.Safetensors;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Safetensors;

[Trait("Category", "Unit")]
public sealed class WeightDigestTests
{
    private static string Expected(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void HashesTheContentOnceAndRemembersItAcrossRunsByPathSizeMtimeAndInode()
    {
        using var dir = TestPaths.TempDir();
        string weights = dir.File("model.safetensors");
        string memo = dir.File("cache/weights-sha256.json");
        File.WriteAllBytes(weights, Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray());

        long before = WeightDigest.FilesHashed;
        Assert.Equal(Expected(weights), WeightDigest.Sha256(weights, memo));
        Assert.Equal(before + 1, WeightDigest.FilesHashed);
        Assert.True(File.Exists(memo));
        Assert.Empty(Directory.GetFiles(dir.File("cache"), "*.tmp"));

        // A new run (process memo forgotten) takes the digest from the memo file without reading the weights.
        WeightDigest.ForgetThisProcess();
        var entry = JsonDocument.Parse(File.ReadAllText(memo)).RootElement.GetProperty(Path.GetFullPath(weights));
        Assert.Equal(4096, entry.GetProperty("size").GetInt64());
        Assert.NotEqual(0, entry.GetProperty("inode").GetInt64());
        long hashed = WeightDigest.FilesHashed;
        Assert.Equal(Expected(weights), WeightDigest.Sha256(weights, memo));
        Assert.Equal(hashed, WeightDigest.FilesHashed);

        // Same size, same mtime, but another file renamed into place (as rsync and the trainer do): a new inode.
        var mtime = File.GetLastWriteTimeUtc(weights);
        string replacement = dir.File("new.safetensors");
        File.WriteAllBytes(replacement, Enumerable.Range(0, 4096).Select(i => (byte)(255 - i)).ToArray());
        File.SetLastWriteTimeUtc(replacement, mtime);
        File.Move(replacement, weights, overwrite: true);
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(weights));
        WeightDigest.ForgetThisProcess();
        Assert.Equal(Expected(weights), WeightDigest.Sha256(weights, memo));
        Assert.Equal(hashed + 1, WeightDigest.FilesHashed);

        // Rewritten in place (new mtime): hashed again.
        File.WriteAllBytes(weights, new byte[4096]);
        File.SetLastWriteTimeUtc(weights, mtime.AddSeconds(5));
        Assert.Equal(Expected(weights), WeightDigest.Sha256(weights, memo));
    }

    [Fact]
    public void AnUnreadableOrUnwritableMemoOnlyCostsARehash()
    {
        using var dir = TestPaths.TempDir();
        string weights = dir.File("w.safetensors");
        File.WriteAllBytes(weights, [1, 2, 3]);
        string memo = dir.File("memo.json");
        File.WriteAllText(memo, "{ torn");
        Assert.Equal(Expected(weights), WeightDigest.Sha256(weights, memo));
        Assert.Contains(Path.GetFullPath(weights), File.ReadAllText(memo), StringComparison.Ordinal);

        // A memo under a regular file cannot be written: still the right digest.
        Assert.Equal(Expected(weights), WeightDigest.Sha256(weights, Path.Combine(weights, "memo.json")));

        // A symbolic link is remembered by its target.
        string link = dir.File("link.safetensors");
        File.CreateSymbolicLink(link, weights);
        Assert.Equal(Expected(weights), WeightDigest.Sha256(link, memo));
    }
}
