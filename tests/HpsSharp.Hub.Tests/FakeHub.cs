using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HpsSharp.Hub.Tests;

/// <summary>
/// A Hugging Face hub on 127.0.0.1 (Kestrel, free port) that speaks the resolve protocol the way huggingface.co does:
/// <c>HEAD/GET /{org}/{name}/resolve/{revision}/{file}</c> answers small files directly (git blob SHA-1 ETag) and LFS
/// files with a 302 to <c>/cdn/{sha256}</c> carrying <c>X-Linked-Etag</c>/<c>X-Linked-Size</c>; the CDN serves HTTP
/// Range. Faults are injected per file: dropped connections, corrupt bytes, 5xx answers, ignored ranges.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Repo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HubFile> _blobs = new(StringComparer.Ordinal);

    private FakeHub(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    /// <summary><c>http://127.0.0.1:port</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Host name used in CDN redirects; "localhost" makes the CDN a different host from the endpoint.</summary>
    public string CdnHost { get; set; } = "127.0.0.1";

    /// <summary>When set, every resolve request must carry <c>Authorization: Bearer {token}</c> (401 otherwise).</summary>
    public string? RequiredToken { get; set; }

    /// <summary>Repositories answering 403 GatedRepo even with the right token.</summary>
    public ConcurrentDictionary<string, bool> Gated { get; } = new(StringComparer.Ordinal);

    /// <summary>Answer small files with a relative 307 to <c>/api/resolve-cache/models/{repo}/{commit}/{file}</c>, as huggingface.co does now.</summary>
    public bool SmallFilesViaResolveCache { get; set; }

    /// <summary>Renamed repositories: old id → new id, answered with a relative 307 to the new name.</summary>
    public ConcurrentDictionary<string, string> Renamed { get; } = new(StringComparer.Ordinal);

    /// <summary>Every request: method, path, Range header, Authorization header.</summary>
    public ConcurrentQueue<Logged> Requests { get; } = new();

    /// <summary>Bytes of file content sent so far.</summary>
    public long BytesServed => Interlocked.Read(ref _bytesServed);

    private long _bytesServed;

    public sealed record Logged(string Method, string Path, string? Range, string? Authorization);

    /// <summary>Every 206 Partial Content answer: the request path and the Range it answered.</summary>
    public ConcurrentQueue<(string Path, string Range)> PartialResponses { get; } = new();

    /// <summary>A file and its fault plan (counters are consumed as requests arrive).</summary>
    public sealed class HubFile
    {
        public required byte[] Content { get; init; }

        public required bool Lfs { get; init; }

        private string? _sha256;
        private string? _gitSha1;

        public string Sha256 => _sha256 ??= Convert.ToHexStringLower(SHA256.HashData(Content));

        /// <summary>The git blob hash: SHA-1 of <c>"blob {size}\0"</c> + content.</summary>
        public string GitSha1 => _gitSha1 ??= GitBlobHash(Content);

        private static string GitBlobHash(byte[] content)
        {
            using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
            sha1.AppendData(Encoding.ASCII.GetBytes($"blob {content.Length}\0"));
            sha1.AppendData(content);
            return Convert.ToHexStringLower(sha1.GetHashAndReset());
        }

        public string Etag => Lfs ? Sha256 : GitSha1;

        /// <summary>The next N content GETs drop the connection after <see cref="DropAfter"/> bytes.</summary>
        public int DropCount;

        public long DropAfter;

        /// <summary>The next N content GETs send one flipped byte.</summary>
        public int CorruptCount;

        /// <summary>The next N resolve requests (HEAD or GET) on this file answer 503.</summary>
        public int FailCount;

        /// <summary>The next N CDN GETs of this file answer 503.</summary>
        public int CdnFailCount;

        /// <summary>CDN links carry <c>?gen=N</c>; a link of an older generation is refused with 403 (an expired signed URL).</summary>
        public int LinkGeneration;

        /// <summary>Each dropped connection also expires the links handed out so far.</summary>
        public bool ExpireLinksOnDrop;

        /// <summary>Size announced in X-Linked-Size instead of the real one.</summary>
        public long? AdvertisedSize;

        /// <summary>Answer 200 with the whole file even when a Range is asked.</summary>
        public bool IgnoreRange;
    }

    private sealed class Repo
    {
        public ConcurrentDictionary<string, string> Refs { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<(string Commit, string File), HubFile> Files { get; } = new();
    }

    public static async Task<FakeHub> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        FakeHub? hub = null;
        app.Run(ctx => hub!.HandleAsync(ctx));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        hub = new FakeHub(app, new Uri(address).Port);
        return hub;
    }

    /// <summary>Adds a file at <paramref name="commit"/> and points <paramref name="revision"/> at it.</summary>
    public HubFile Add(string repo, string file, byte[] content, bool lfs, string commit, string revision = "main")
    {
        var r = _repos.GetOrAdd(repo, _ => new Repo());
        r.Refs[revision] = commit;
        var f = new HubFile { Content = content, Lfs = lfs };
        r.Files[(commit, file)] = f;
        _blobs[f.Sha256] = f;
        return f;
    }

    public int Count(string method, string pathContains) => Requests.Count(r => r.Method == method && r.Path.Contains(pathContains, StringComparison.Ordinal));

    private async Task HandleAsync(HttpContext ctx)
    {
        var req = ctx.Request;
        var path = Uri.UnescapeDataString(req.Path.Value ?? "/");
        Requests.Enqueue(new Logged(req.Method, path, req.Headers.Range.ToString() is { Length: > 0 } rg ? rg : null,
            req.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null));

        if (path.StartsWith("/cdn/", StringComparison.Ordinal))
        {
            if (!_blobs.TryGetValue(path[5..], out var blob))
            {
                ctx.Response.StatusCode = 404;
                return;
            }

            if (ctx.Request.Query["gen"].ToString() != blob.LinkGeneration.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                ctx.Response.StatusCode = 403; // expired signature
                return;
            }

            await ServeContentAsync(ctx, blob);
            return;
        }

        if (path.StartsWith("/api/resolve-cache/models/", StringComparison.Ordinal))
        {
            // /api/resolve-cache/models/{org}/{name}/{commit}/{file...}
            var p = path["/api/resolve-cache/models/".Length..].Split('/', 4);
            if (p.Length == 4 && _repos.TryGetValue(p[0] + "/" + p[1], out var cachedRepo) && cachedRepo.Files.TryGetValue((p[2], p[3]), out var cachedFile))
            {
                ctx.Response.Headers["X-Repo-Commit"] = p[2];
                ctx.Response.Headers.ETag = "\"" + cachedFile.GitSha1 + "\"";
                await ServeContentAsync(ctx, cachedFile);
                return;
            }

            ctx.Response.StatusCode = 404;
            return;
        }

        // /{org}/{name}/resolve/{revision}/{file...}
        var parts = path.TrimStart('/').Split('/', 5);
        if (parts.Length < 5 || parts[2] != "resolve")
        {
            ctx.Response.StatusCode = 404;
            return;
        }

        var repoId = parts[0] + "/" + parts[1];
        var revision = parts[3];
        var fileName = parts[4];
        if (RequiredToken is not null && req.Headers.Authorization.ToString() != "Bearer " + RequiredToken)
        {
            ctx.Response.StatusCode = 401;
            ctx.Response.Headers["X-Error-Message"] = "Invalid credentials in Authorization header";
            return;
        }

        if (Gated.ContainsKey(repoId))
        {
            ctx.Response.StatusCode = 403;
            ctx.Response.Headers["X-Error-Code"] = "GatedRepo";
            ctx.Response.Headers["X-Error-Message"] = $"Access to model {repoId} is restricted.";
            return;
        }

        if (Renamed.TryGetValue(repoId, out var newName))
        {
            ctx.Response.StatusCode = 307;
            ctx.Response.Headers.Location = $"/{newName}/resolve/{revision}/{fileName}";
            return;
        }

        if (!_repos.TryGetValue(repoId, out var repo))
        {
            Error(ctx, 404, "RepoNotFound", "Repository not found");
            return;
        }

        var commit = repo.Refs.TryGetValue(revision, out var c) ? c : repo.Files.Keys.Any(k => k.Commit == revision) ? revision : null;
        if (commit is null)
        {
            Error(ctx, 404, "RevisionNotFound", "Invalid rev id: " + revision);
            return;
        }

        if (!repo.Files.TryGetValue((commit, fileName), out var f))
        {
            ctx.Response.Headers["X-Repo-Commit"] = commit;
            Error(ctx, 404, "EntryNotFound", "Entry not found");
            return;
        }

        if (Interlocked.Decrement(ref f.FailCount) >= 0)
        {
            ctx.Response.StatusCode = 503;
            return;
        }

        ctx.Response.Headers["X-Repo-Commit"] = commit;
        if (f.Lfs)
        {
            ctx.Response.StatusCode = 302;
            ctx.Response.Headers.ETag = "\"" + f.GitSha1 + "\""; // the pointer file's hash, as the real hub sends
            ctx.Response.Headers["X-Linked-Etag"] = "\"" + f.Sha256 + "\"";
            ctx.Response.Headers["X-Linked-Size"] = (f.AdvertisedSize ?? f.Content.Length).ToString(System.Globalization.CultureInfo.InvariantCulture);
            ctx.Response.Headers.Location = $"http://{CdnHost}:{Port}/cdn/{f.Sha256}?gen={f.LinkGeneration}";
            return;
        }

        if (SmallFilesViaResolveCache)
        {
            ctx.Response.StatusCode = 307;
            ctx.Response.Headers.Location = $"/api/resolve-cache/models/{repoId}/{commit}/{Uri.EscapeDataString(fileName)}";
            return;
        }

        ctx.Response.Headers.ETag = "W/\"" + f.GitSha1 + "\"";
        await ServeContentAsync(ctx, f);
    }

    private static void Error(HttpContext ctx, int status, string code, string message)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.Headers["X-Error-Code"] = code;
        ctx.Response.Headers["X-Error-Message"] = message;
    }

    private async Task ServeContentAsync(HttpContext ctx, HubFile f)
    {
        var content = f.Content;
        if (HttpMethods.IsHead(ctx.Request.Method))
        {
            ctx.Response.ContentLength = content.Length;
            return;
        }

        if (ctx.Request.Path.Value!.StartsWith("/cdn/", StringComparison.Ordinal) && Interlocked.Decrement(ref f.CdnFailCount) >= 0)
        {
            ctx.Response.StatusCode = 503;
            return;
        }

        long start = 0;
        var range = ctx.Request.Headers.Range.ToString();
        if (!f.IgnoreRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range[6..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (start >= content.Length)
            {
                ctx.Response.StatusCode = 416;
                ctx.Response.Headers.ContentRange = $"bytes */{content.Length}";
                return;
            }

            ctx.Response.StatusCode = 206;
            PartialResponses.Enqueue((ctx.Request.Path.Value!, range));
            ctx.Response.Headers.ContentRange = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }

        ctx.Response.Headers.AcceptRanges = "bytes";
        ctx.Response.ContentLength = content.Length - start;
        var body = content.AsMemory((int)start);
        if (Interlocked.Decrement(ref f.CorruptCount) >= 0)
        {
            var copy = body.ToArray();
            copy[copy.Length / 2] ^= 0x5A;
            body = copy;
        }

        if (Interlocked.Decrement(ref f.DropCount) >= 0 && f.DropAfter < body.Length)
        {
            // Abort discards whatever Kestrel has not sent yet: the client gets at most DropAfter bytes.
            await ctx.Response.Body.WriteAsync(body[..(int)f.DropAfter]);
            await ctx.Response.Body.FlushAsync();

            // Give the flushed bytes time to reach the client before the reset; without this pause a small DropAfter
            // raced the abort, the client often received nothing, and a "resume" test passed with no Range at all.
            await Task.Delay(150);
            if (f.ExpireLinksOnDrop)
            {
                Interlocked.Increment(ref f.LinkGeneration);
            }

            ctx.Abort();
            return;
        }

        Interlocked.Add(ref _bytesServed, body.Length); // before the write: the client may finish before the write returns here
        for (int at = 0; at < body.Length; at += 1 << 20)
        {
            // 1 MB writes with a flush each: Kestrel applies backpressure instead of buffering the whole file.
            await ctx.Response.Body.WriteAsync(body.Slice(at, Math.Min(1 << 20, body.Length - at)));
            await ctx.Response.Body.FlushAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
