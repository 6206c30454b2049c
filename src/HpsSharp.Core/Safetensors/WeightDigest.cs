using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpsSharp.Core.Safetensors;

/// <summary>
/// SHA-256 of a weight file's bytes (header and every tensor), computed once per file version. A 16 GB checkpoint
/// takes seconds to hash, so the digest is remembered by (resolved path, size, mtime, inode) in a small JSON memo
/// beside the score cache; a file rewritten in place (new mtime) or replaced by a rename (new inode) is hashed
/// again. The memo is rewritten atomically (temporary file + rename), so a killed run never leaves a torn memo, and
/// a memo that cannot be read or written only costs a rehash.
/// </summary>
public static class WeightDigest
{
    /// <summary>File name of the memo inside the cache folder.</summary>
    public const string MemoFileName = "weights-sha256.json";

    private static readonly ConcurrentDictionary<FileVersion, string> Process = new();

    /// <summary>Number of files hashed (not answered from a memo) by this process; for tests and diagnostics.</summary>
    public static long FilesHashed => Interlocked.Read(ref _filesHashed);

    private static long _filesHashed;

    /// <summary>Forgets what this process hashed, as a new process would (tests of the memo file).</summary>
    internal static void ForgetThisProcess() => Process.Clear();

    /// <summary>The default memo: <c>weights-sha256.json</c> in <see cref="HpsCacheDirectory.Resolve"/>.</summary>
    public static string DefaultMemoPath() => Path.Combine(HpsCacheDirectory.Resolve(), MemoFileName);

    /// <summary>Lower-case hex SHA-256 of <paramref name="path"/>'s bytes, from the memo when the file is unchanged.</summary>
    /// <param name="path">The weight file (a symbolic link is followed to its target).</param>
    /// <param name="memoPath">The memo file; null: <see cref="DefaultMemoPath"/>.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static string Sha256(string path, string? memoPath = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var version = FileVersion.Of(path);
        if (Process.TryGetValue(version, out var known))
        {
            return known;
        }

        memoPath ??= DefaultMemoPath();
        var memo = ReadMemo(memoPath);
        if (memo.TryGetValue(version.Path, out var entry) && entry.Matches(version))
        {
            Process[version] = entry.Sha256;
            return entry.Sha256;
        }

        string sha;
        using (var stream = new FileStream(version.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
        {
            sha = Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        Interlocked.Increment(ref _filesHashed);

        // Hashing took a while: the file must not have changed under us, or the digest belongs to no version of it.
        if (FileVersion.Of(path) != version)
        {
            throw new IOException($"weight file '{path}' changed while it was being hashed; try again when it is complete");
        }

        Process[version] = sha;
        TryRemember(memoPath, version, sha);
        return sha;
    }

    private static Dictionary<string, MemoEntry> ReadMemo(string memoPath)
    {
        try
        {
            if (File.Exists(memoPath))
            {
                return JsonSerializer.Deserialize<Dictionary<string, MemoEntry>>(File.ReadAllBytes(memoPath)) ?? new();
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            // A memo that cannot be read only means hashing again; it is rewritten below.
        }

        return new(StringComparer.Ordinal);
    }

    private static void TryRemember(string memoPath, FileVersion version, string sha)
    {
        string? tmp = null;
        try
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(memoPath))!;
            Directory.CreateDirectory(dir);

            // Re-read right before writing so that entries another process added meanwhile are kept.
            var memo = ReadMemo(memoPath);
            memo[version.Path] = new MemoEntry(version.Length, version.MtimeTicks, version.Inode, sha);
            foreach (var stale in memo.Keys.Where(k => !File.Exists(k)).ToList())
            {
                memo.Remove(stale);
            }

            tmp = Path.Combine(dir, $".{Path.GetFileName(memoPath)}.{Guid.NewGuid():N}.tmp");
            File.WriteAllBytes(tmp, JsonSerializer.SerializeToUtf8Bytes(memo, new JsonSerializerOptions { WriteIndented = true }));
            File.Move(tmp, memoPath, overwrite: true);
            tmp = null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Read-only cache folder: the digest is still correct, it is only not remembered across runs.
        }
        finally
        {
            if (tmp is not null)
            {
                try
                {
                    File.Delete(tmp);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private sealed record MemoEntry(
        [property: JsonPropertyName("size")] long Size,
        [property: JsonPropertyName("mtime_ticks")] long MtimeTicks,
        [property: JsonPropertyName("inode")] long Inode,
        [property: JsonPropertyName("sha256")] string Sha256)
    {
        public bool Matches(FileVersion v) => Size == v.Length && MtimeTicks == v.MtimeTicks && Inode == v.Inode && Sha256.Length == 64;
    }

    /// <summary>What identifies one version of a file without reading it.</summary>
    private readonly record struct FileVersion(string Path, long Length, long MtimeTicks, long Inode)
    {
        public static FileVersion Of(string path)
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
            }

            if (!info.Exists)
            {
                throw new FileNotFoundException($"weight file '{path}' does not exist", path);
            }

            return new FileVersion(info.FullName, info.Length, info.LastWriteTimeUtc.Ticks, InodeOf(info.FullName, info.Length));
        }
    }

    /// <summary>
    /// The inode number on 64-bit Linux, read with libc <c>stat</c> (the BCL does not expose it). In both struct
    /// layouts of 64-bit Linux (x86-64 and the generic one of arm64) <c>st_ino</c> is at byte 8 and <c>st_size</c> at
    /// byte 48; the size is checked against <paramref name="length"/>, so an unknown layout gives 0 (no inode check)
    /// rather than a wrong number.
    /// </summary>
    private static long InodeOf(string path, long length)
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
        {
            return 0;
        }

        try
        {
            var buffer = new byte[256];
            if (Native.Stat(path, buffer) != 0 || BitConverter.ToInt64(buffer, 48) != length)
            {
                return 0;
            }

            return BitConverter.ToInt64(buffer, 8);
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return 0;
        }
    }

    private static class Native
    {
        [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
        public static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] buffer);
    }
}

/// <summary>The folder of HpsSharp's caches (scores, weight digests).</summary>
public static class HpsCacheDirectory
{
    /// <summary><c>$HPS_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/hpssharp</c>, else <c>~/.cache/hpssharp</c>.</summary>
    public static string Resolve()
    {
        var dir = Environment.GetEnvironmentVariable("HPS_CACHE_DIR");
        if (!string.IsNullOrEmpty(dir))
        {
            return dir;
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        return string.IsNullOrEmpty(xdg)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "hpssharp")
            : Path.Combine(xdg, "hpssharp");
    }
}
