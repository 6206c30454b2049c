using System.Text.RegularExpressions;

namespace HpsSharp.Hub;

/// <summary>
/// The on-disk layout of Python's <c>huggingface_hub</c> cache, so files either side downloaded are shared:
/// <c>models--{org}--{name}/blobs/{etag}</c> (the content, named by its LFS sha256 or git blob hash),
/// <c>snapshots/{commit}/{file}</c> (relative symlinks into <c>blobs/</c>), <c>refs/{revision}</c> (the commit hash),
/// <c>blobs/{etag}.incomplete</c> while downloading, <c>.no_exist/{commit}/{file}</c> for files known to be absent and
/// <c>{cache}/.locks/models--{org}--{name}/{etag}.lock</c> between processes.
/// </summary>
public sealed partial class HubCache
{
    public HubCache(string cacheDir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDir);
        CacheDir = Path.GetFullPath(cacheDir);
    }

    /// <summary>The cache root (<c>HF_HUB_CACHE</c>).</summary>
    public string CacheDir { get; }

    /// <summary><c>models--org--name</c>.</summary>
    public static string RepoFolderName(string repo)
    {
        ValidateRepo(repo);
        return "models--" + repo.Replace("/", "--", StringComparison.Ordinal);
    }

    public string RepoFolder(string repo) => Path.Combine(CacheDir, RepoFolderName(repo));

    public string BlobPath(string repo, string etag) => Path.Combine(RepoFolder(repo), "blobs", ValidateEtag(etag));

    public string SnapshotPath(string repo, string commit, string file)
    {
        ValidateFile(file);
        return Path.Combine(RepoFolder(repo), "snapshots", ValidateCommit(commit), file.Replace('/', Path.DirectorySeparatorChar));
    }

    public string LockPath(string repo, string etag) => Path.Combine(CacheDir, ".locks", RepoFolderName(repo), ValidateEtag(etag) + ".lock");

    private string RefPath(string repo, string revision)
    {
        if (revision.Contains("..", StringComparison.Ordinal) || revision.StartsWith('/'))
        {
            throw new ArgumentException($"revision '{revision}' is not a valid branch or tag name", nameof(revision));
        }

        return Path.Combine(RepoFolder(repo), "refs", revision.Replace('/', Path.DirectorySeparatorChar));
    }

    /// <summary>True for a full 40-hex commit hash.</summary>
    public static bool IsCommitHash(string revision) => CommitRegex().IsMatch(revision);

    /// <summary>The commit a revision points to in the cache (<c>refs/{revision}</c>), the revision itself if it is a commit hash, else null.</summary>
    public string? ResolveRevision(string repo, string revision)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(revision);
        if (IsCommitHash(revision))
        {
            return revision;
        }

        var path = RefPath(repo, revision);
        if (!File.Exists(path))
        {
            return null;
        }

        var commit = File.ReadAllText(path).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    /// <summary>Records <c>refs/{revision}</c> = commit (atomically); nothing for a revision that is a commit hash.</summary>
    public void WriteRef(string repo, string revision, string commit)
    {
        ValidateCommit(commit);
        if (revision == commit)
        {
            return;
        }

        var path = RefPath(repo, revision);
        if (File.Exists(path) && File.ReadAllText(path).Trim() == commit)
        {
            return;
        }

        AtomicFile.WriteAllText(path, commit);
    }

    /// <summary>The snapshot path of a cached file for a revision when its content is present, else null.</summary>
    public string? TryGetCachedFile(string repo, string file, string revision)
    {
        var commit = ResolveRevision(repo, revision);
        if (commit is null)
        {
            return null;
        }

        var path = SnapshotPath(repo, commit, file);
        return File.Exists(path) ? path : null; // File.Exists follows the link: a dangling link is not a cached file
    }

    /// <summary>True when an earlier request found the file absent at that commit (<c>.no_exist</c>).</summary>
    public bool IsKnownMissing(string repo, string commit, string file)
    {
        ValidateFile(file);
        return File.Exists(Path.Combine(RepoFolder(repo), ".no_exist", ValidateCommit(commit), file.Replace('/', Path.DirectorySeparatorChar)));
    }

    /// <summary>Records that the file does not exist at that commit, as <c>huggingface_hub</c> does.</summary>
    public void MarkMissing(string repo, string commit, string file)
    {
        ValidateFile(file);
        var path = Path.Combine(RepoFolder(repo), ".no_exist", ValidateCommit(commit), file.Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (File.Create(path))
        {
        }
    }

    /// <summary>
    /// Points <c>snapshots/{commit}/{file}</c> at <c>blobs/{etag}</c> with a relative symlink (replacing any stale
    /// entry atomically). Where symlinks are not allowed the blob is moved into the snapshot instead, as
    /// <c>huggingface_hub</c> does.
    /// </summary>
    public string LinkSnapshot(string repo, string commit, string file, string etag)
    {
        var blob = BlobPath(repo, etag);
        var pointer = SnapshotPath(repo, commit, file);
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        var relative = Path.GetRelativePath(Path.GetDirectoryName(pointer)!, blob);
        if (IsLinkTo(pointer, relative))
        {
            return pointer;
        }

        try
        {
            Links.ReplaceWithSymlink(pointer, relative);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException or PlatformNotSupportedException)
        {
            File.Move(blob, pointer, overwrite: true);
        }

        return pointer;
    }

    private static bool IsLinkTo(string path, string target)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is { } t && t == target && File.Exists(path);
    }

    internal static void ValidateRepo(string repo)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(repo);
        if (!RepoRegex().IsMatch(repo) || repo.Contains("..", StringComparison.Ordinal) || repo.Contains("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"repository id '{repo}' is not of the form 'org/name' (letters, digits, '-', '_', '.')", nameof(repo));
        }
    }

    internal static void ValidateFile(string file)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(file);
        if (file.StartsWith('/') || file.Contains('\\', StringComparison.Ordinal) || file.Split('/').Any(p => p is "" or "." or ".."))
        {
            throw new ArgumentException($"file name '{file}' must be a relative path inside the repository", nameof(file));
        }
    }

    private static string ValidateCommit(string commit)
    {
        if (!IsCommitHash(commit))
        {
            throw new ArgumentException($"'{commit}' is not a 40-hex commit hash", nameof(commit));
        }

        return commit;
    }

    private static string ValidateEtag(string etag)
    {
        if (!EtagRegex().IsMatch(etag))
        {
            throw new ArgumentException($"ETag '{etag}' cannot name a blob", nameof(etag));
        }

        return etag;
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitRegex();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex RepoRegex();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex EtagRegex();
}

/// <summary>Small file helpers: writes that never leave a half-written file behind.</summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }
}

/// <summary>Symlink helpers.</summary>
internal static class Links
{
    /// <summary>Creates <paramref name="path"/> → <paramref name="target"/>, replacing whatever is there in one rename.</summary>
    public static void ReplaceWithSymlink(string path, string target)
    {
        var tmp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmplink";
        File.CreateSymbolicLink(tmp, target);
        try
        {
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
