namespace HpsSharp.Hub;

/// <summary>Progress of one file's download: bytes on disk so far (including a resumed part) out of the total.</summary>
/// <param name="Repo">The repository.</param>
/// <param name="File">The file in the repository.</param>
/// <param name="BytesDone">Bytes of the file on disk so far.</param>
/// <param name="TotalBytes">The file's size when the hub told it.</param>
/// <param name="ResumedFrom">Bytes already present when this transfer started (a resumed download), else 0.</param>
/// <param name="Stage">What is happening.</param>
public sealed record DownloadProgress(string Repo, string File, long BytesDone, long? TotalBytes, long ResumedFrom, DownloadStage Stage);

/// <summary>The stage of a file in <see cref="DownloadProgress"/>.</summary>
public enum DownloadStage
{
    /// <summary>Bytes are arriving.</summary>
    Downloading,

    /// <summary>A transient failure; waiting before a retry that resumes at <see cref="DownloadProgress.BytesDone"/>.</summary>
    Retrying,

    /// <summary>Hashing the content against the hub's checksum.</summary>
    Verifying,

    /// <summary>The file is complete (downloaded now or found in the cache).</summary>
    Done,
}

/// <summary>What the hub says about a file (from a <c>HEAD …/resolve/{revision}/{file}</c>).</summary>
/// <param name="CommitHash">The commit the revision resolved to (<c>X-Repo-Commit</c>).</param>
/// <param name="Etag">The blob name: the LFS sha256 (<c>X-Linked-Etag</c>) or the git blob hash (<c>ETag</c>).</param>
/// <param name="Size">The file size (<c>X-Linked-Size</c> or <c>Content-Length</c>).</param>
/// <param name="Location">Where to GET the content (the CDN for large files).</param>
public sealed record HubFileMetadata(string CommitHash, string Etag, long? Size, Uri Location)
{
    /// <summary>True when the ETag is a sha256 (an LFS file): the content's SHA-256 must equal it.</summary>
    public bool IsLfs => Etag.Length == 64 && Etag.All(Uri.IsHexDigit);

    /// <summary>True when the ETag is a content hash this client checks: a sha256 (LFS) or a 40-hex git blob SHA-1.</summary>
    public bool HasContentHash => IsLfs || (Etag.Length == 40 && Etag.All(Uri.IsHexDigit));
}

/// <summary>A file present in the cache.</summary>
/// <param name="Repo">The repository.</param>
/// <param name="File">The file in the repository.</param>
/// <param name="CommitHash">The commit of the snapshot.</param>
/// <param name="SnapshotPath">The path to open (<c>snapshots/{commit}/{file}</c>).</param>
/// <param name="Size">Bytes.</param>
/// <param name="Downloaded">True when bytes were fetched by this call (false: found in the cache).</param>
/// <param name="Verified">True when the content was hashed against the hub's checksum by this call.</param>
public sealed record CachedFile(string Repo, string File, string CommitHash, string SnapshotPath, long Size, bool Downloaded, bool Verified);
