using System.Net;
using HpsSharp.Core;

namespace HpsSharp.Hub;

/// <summary>Why a hub request failed.</summary>
public enum HubErrorKind
{
    /// <summary>401: no token or a bad token (the hub also answers 401 for a repository that does not exist).</summary>
    Unauthorized,

    /// <summary>403 / gated repository: the token's account has not been granted access.</summary>
    Forbidden,

    /// <summary>The repository does not exist (or is private and the token cannot see it).</summary>
    RepoNotFound,

    /// <summary>The revision (branch, tag or commit) does not exist.</summary>
    RevisionNotFound,

    /// <summary>The file does not exist at that revision.</summary>
    EntryNotFound,

    /// <summary>The hub kept failing (5xx, 429, timeouts, dropped connections) after every retry.</summary>
    Unavailable,

    /// <summary>The hub answered something this client cannot use (missing commit or ETag header, bad range).</summary>
    Protocol,

    /// <summary>Offline mode (<c>HF_HUB_OFFLINE</c>) and the file is not in the cache.</summary>
    NotCached,
}

/// <summary>A hub request failed; carries the repository, file, revision, HTTP status and a reason a user can act on.</summary>
public sealed class HubException : HpsException
{
    public HubException(HubErrorKind kind, string repo, string? file, string revision, HttpStatusCode? status, string reason, Exception? inner = null)
        : base(Format(kind, repo, file, revision, status, reason), inner)
    {
        Kind = kind;
        Repo = repo;
        File = file;
        Revision = revision;
        Status = status;
        Reason = reason;
    }

    public HubErrorKind Kind { get; }

    public string Repo { get; }

    public string? File { get; }

    public string Revision { get; }

    public HttpStatusCode? Status { get; }

    public string Reason { get; }

    private static string Format(HubErrorKind kind, string repo, string? file, string revision, HttpStatusCode? status, string reason)
    {
        var what = file is null ? $"{repo}@{revision}" : $"{repo}/{file}@{revision}";
        var code = status is { } s ? $" (HTTP {(int)s})" : string.Empty;
        return $"{what}: {reason}{code}";
    }
}

/// <summary>A downloaded file does not match the hub's checksum or size; the corrupt file has been deleted.</summary>
public sealed class HubChecksumException : HpsException
{
    public HubChecksumException(string repo, string file, string algorithm, string expected, string actual, string deletedPath)
        : base($"{repo}/{file}: downloaded data is corrupt ({algorithm} {actual}, hub says {expected}); removed {deletedPath}, run the download again")
    {
        Repo = repo;
        File = file;
        Algorithm = algorithm;
        Expected = expected;
        Actual = actual;
        DeletedPath = deletedPath;
    }

    public string Repo { get; }

    public string File { get; }

    /// <summary><c>sha256</c> (LFS files), <c>git-sha1</c> (small files) or <c>size</c>.</summary>
    public string Algorithm { get; }

    public string Expected { get; }

    public string Actual { get; }

    public string DeletedPath { get; }
}
