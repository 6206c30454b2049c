using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using HpsSharp.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;

namespace HpsSharp.Hub;

/// <summary>
/// Downloads files from a Hugging Face hub into the shared cache with the public HTTP protocol: a <c>HEAD</c> on
/// <c>{endpoint}/{repo}/resolve/{revision}/{file}</c> (redirects not followed, except relative ones for renamed
/// repositories) gives the commit, the ETag and the size; the content is fetched from the <c>Location</c> (the CDN for
/// LFS files) into <c>blobs/{etag}.incomplete</c>, resumed with HTTP <c>Range</c> after a dropped connection or a killed
/// process, retried with exponential backoff on 5xx/429/timeouts, checked against the ETag (SHA-256 for LFS files,
/// git blob SHA-1 for small ones) and renamed into place. Thread-safe; one instance per endpoint.
/// </summary>
public sealed partial class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private const int MaxLinkRenewals = 3;
    private const int CopyBufferSize = 1 << 20;
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _endpoint;
    private readonly ILogger _logger;

    /// <summary>Creates a client; <paramref name="handler"/> replaces the network stack (tests), and is not disposed.</summary>
    public HubClient(HubOptions options, HttpMessageHandler? handler = null, ILogger<HubClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Cache = new HubCache(options.CacheDir);
        if (!Uri.TryCreate(options.Endpoint.TrimEnd('/'), UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            throw UserInputException.ForOption(nameof(HubOptions.Endpoint), $"hub endpoint '{options.Endpoint}' is not an http(s) URL (it also comes from HF_ENDPOINT)");
        }

        _endpoint = endpoint;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        if (handler is null)
        {
            handler = new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                AutomaticDecompression = DecompressionMethods.None,
                ConnectTimeout = options.ReadTimeout,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            };
            _ownsHttp = true;
        }

        _http = new HttpClient(handler, disposeHandler: _ownsHttp) { Timeout = Timeout.InfiniteTimeSpan };
        var version = typeof(HubClient).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("hpssharp", plus > 0 ? version[..plus] : version));
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue($"(dotnet/{Environment.Version})"));
    }

    public HubOptions Options { get; }

    public HubCache Cache { get; }

    /// <summary><c>{endpoint}/{repo}/resolve/{revision}/{file}</c> with the revision and file escaped as the Python client does.</summary>
    public Uri ResolveUrl(string repo, string file, string revision)
    {
        HubCache.ValidateRepo(repo);
        HubCache.ValidateFile(file);
        var path = string.Join('/', file.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{_endpoint.AbsoluteUri.TrimEnd('/')}/{repo}/resolve/{Uri.EscapeDataString(revision)}/{path}");
    }

    /// <summary>The commit, ETag, size and download location of a file, without downloading it.</summary>
    public async Task<HubFileMetadata> GetMetadataAsync(string repo, string file, string revision = "main", CancellationToken cancellationToken = default)
    {
        var url = ResolveUrl(repo, file, revision);
        return await WithRetriesAsync(repo, file, revision, async attemptToken =>
        {
            var current = url;
            for (int hop = 0; ; hop++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Head, current);
                request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
                AddAuthorization(request);
                using var response = await SendAsync(request, attemptToken).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                var location = response.Headers.Location;
                if (status is >= 300 and < 400 && location is not null && !location.IsAbsoluteUri && hop < MaxRedirects)
                {
                    // A renamed repository answers with a relative redirect to its new name: follow it for the metadata.
                    current = new Uri(current, location);
                    continue;
                }

                if (status >= 400)
                {
                    throw ToException(response, repo, file, revision);
                }

                string? commit = Header(response, "X-Repo-Commit");
                string? etag = NormalizeEtag(Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag"));
                if (commit is null || !HubCache.IsCommitHash(commit) || etag is null)
                {
                    throw new HubException(HubErrorKind.Protocol, repo, file, revision, response.StatusCode,
                        $"{url.GetLeftPart(UriPartial.Authority)} is not a Hugging Face hub: its answer has no X-Repo-Commit/ETag (check HF_ENDPOINT)");
                }

                long? size = long.TryParse(Header(response, "X-Linked-Size"), NumberStyles.None, CultureInfo.InvariantCulture, out var linked) ? linked
                    : response.Content.Headers.ContentLength;
                var target = status is >= 300 and < 400 && location is not null ? new Uri(current, location) : current;
                return new HubFileMetadata(commit, etag, size, target);
            }
        }, onRetry: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Returns the cached file for <paramref name="revision"/>, downloading it when the cache lacks it. With
    /// <paramref name="verify"/> a file already in the cache is hashed against the hub's checksum too. When the hub
    /// cannot be reached but the cache holds the revision, the cached file is returned (as Python does).
    /// </summary>
    public async Task<CachedFile> DownloadAsync(string repo, string file, string revision = "main", IProgress<DownloadProgress>? progress = null,
        bool verify = false, CancellationToken cancellationToken = default)
    {
        HubCache.ValidateRepo(repo);
        HubCache.ValidateFile(file);
        ArgumentException.ThrowIfNullOrWhiteSpace(revision);

        if (HubCache.IsCommitHash(revision) && Cache.TryGetCachedFile(repo, file, revision) is { } pinned && !verify)
        {
            return Done(repo, file, revision, pinned, downloaded: false, verified: false, progress);
        }

        if (Options.Offline)
        {
            return Cache.TryGetCachedFile(repo, file, revision) is { } cached
                ? Done(repo, file, Cache.ResolveRevision(repo, revision)!, cached, false, false, progress)
                : throw new HubException(HubErrorKind.NotCached, repo, file, revision, null,
                    $"offline mode (HF_HUB_OFFLINE) and the file is not in the cache {Cache.CacheDir}");
        }

        HubFileMetadata meta;
        try
        {
            meta = await GetMetadataAsync(repo, file, revision, cancellationToken).ConfigureAwait(false);
        }
        catch (HubException ex) when (ex.Kind is HubErrorKind.Unavailable && Cache.TryGetCachedFile(repo, file, revision) is { } fallback)
        {
            LogUsingCacheAfterFailure(_logger, repo, file, ex.Message);
            return Done(repo, file, Cache.ResolveRevision(repo, revision)!, fallback, false, false, progress);
        }

        Cache.WriteRef(repo, revision, meta.CommitHash);
        var blob = Cache.BlobPath(repo, meta.Etag);
        var snapshot = Cache.SnapshotPath(repo, meta.CommitHash, file);

        if (File.Exists(snapshot) && (File.Exists(blob) || new FileInfo(snapshot).LinkTarget is null))
        {
            // Present (a Python download, or ours): nothing to fetch.
            var verified = false;
            if (verify)
            {
                progress?.Report(new DownloadProgress(repo, file, 0, meta.Size, 0, DownloadStage.Verifying));
                await VerifyExistingAsync(repo, file, meta, snapshot, cancellationToken).ConfigureAwait(false);
                verified = true;
            }

            return Done(repo, file, meta.CommitHash, snapshot, false, verified, progress);
        }

        if (File.Exists(blob))
        {
            var verified = false;
            if (verify)
            {
                await VerifyExistingAsync(repo, file, meta, blob, cancellationToken).ConfigureAwait(false);
                verified = true;
            }

            Cache.LinkSnapshot(repo, meta.CommitHash, file, meta.Etag);
            return Done(repo, file, meta.CommitHash, snapshot, false, verified, progress);
        }

        using (await AcquireLockAsync(Cache.LockPath(repo, meta.Etag), repo, file, Options.LockTimeout, cancellationToken).ConfigureAwait(false))
        {
            if (!File.Exists(blob))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
                EnsureDiskSpace(repo, file, revision, meta, blob);
                await FetchBlobAsync(repo, file, revision, meta, blob, progress, cancellationToken).ConfigureAwait(false);
            }

            Cache.LinkSnapshot(repo, meta.CommitHash, file, meta.Etag);
        }

        return Done(repo, file, meta.CommitHash, snapshot, downloaded: true, verified: meta.HasContentHash, progress);
    }

    private static CachedFile Done(string repo, string file, string commit, string path, bool downloaded, bool verified, IProgress<DownloadProgress>? progress)
    {
        var size = ContentLength(path);
        progress?.Report(new DownloadProgress(repo, file, size, size, 0, DownloadStage.Done));
        return new CachedFile(repo, file, commit, path, size, downloaded, verified);
    }

    /// <summary>Fails before the transfer, not 15 GB into it, when the cache's disk cannot hold the rest of the file.</summary>
    private static void EnsureDiskSpace(string repo, string file, string revision, HubFileMetadata meta, string blob)
    {
        if (meta.Size is not { } size)
        {
            return;
        }

        var incomplete = blob + ".incomplete";
        long needed = size - (File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0);
        long free;
        try
        {
            free = new DriveInfo(Path.GetDirectoryName(blob)!).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or UnauthorizedAccessException)
        {
            return; // unknown: let the write itself report a full disk
        }

        if (free < needed)
        {
            // The advice is to choose another cache folder: the error names that option.
            throw UserInputException.ForOption(nameof(HubOptions.CacheDir), $"{repo}/{file}@{revision}: not enough disk space in {Path.GetDirectoryName(blob)}: needs {needed:N0} more bytes, {free:N0} free (choose a cache folder on another disk; it also comes from HF_HUB_CACHE)");
        }
    }

    /// <summary>The length of the content (FileInfo.Length of a symlink is the link's own length).</summary>
    internal static long ContentLength(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? info.Length : ((FileInfo?)info.ResolveLinkTarget(returnFinalTarget: true))?.Length ?? throw new FileNotFoundException("dangling link", path);
    }

    private async Task FetchBlobAsync(string repo, string file, string revision, HubFileMetadata meta, string blob, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var incomplete = blob + ".incomplete";
        var checksum = new RunningChecksum(meta);
        var location = meta.Location;
        int renewals = 0;
        try
        {
            await WithRetriesAsync(repo, file, revision, async attemptToken =>
            {
                try
                {
                    await TransferAsync(repo, file, revision, meta with { Location = location }, incomplete, checksum, progress, attemptToken).ConfigureAwait(false);
                }
                catch (HubException ex) when (ex.Kind is HubErrorKind.Forbidden or HubErrorKind.Unauthorized or HubErrorKind.EntryNotFound or HubErrorKind.Protocol
                    && location != ResolveUrl(repo, file, revision) && renewals < MaxLinkRenewals)
                {
                    // CDN links are signed and expire (about an hour): a resume after a long transfer asks the hub for a fresh one.
                    renewals++;
                    var fresh = await GetMetadataAsync(repo, file, meta.CommitHash, attemptToken).ConfigureAwait(false);
                    if (fresh.Etag != meta.Etag)
                    {
                        throw new HubException(HubErrorKind.Protocol, repo, file, revision, null, $"the file changed on the hub during the download (ETag {meta.Etag} → {fresh.Etag})");
                    }

                    location = fresh.Location;
                    throw new TransientHubException($"download link refused ({ex.Status}); renewed it", ex);
                }

                return true;
            }, progress is null ? null : (done) => progress.Report(new DownloadProgress(repo, file, done, meta.Size, 0, DownloadStage.Retrying)),
            cancellationToken, () => File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0).ConfigureAwait(false);

            progress?.Report(new DownloadProgress(repo, file, meta.Size ?? 0, meta.Size, 0, DownloadStage.Verifying));
            var length = new FileInfo(incomplete).Length;
            if (meta.Size is { } expectedSize && length != expectedSize)
            {
                File.Delete(incomplete);
                throw new HubChecksumException(repo, file, "size", expectedSize.ToString(CultureInfo.InvariantCulture), length.ToString(CultureInfo.InvariantCulture), incomplete);
            }

            var (algorithm, actual) = await checksum.FinishAsync(incomplete, length, cancellationToken).ConfigureAwait(false);
            if (actual is not null && !string.Equals(actual, meta.Etag, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(incomplete);
                LogCorrupt(_logger, repo, file, algorithm, actual, meta.Etag);
                throw new HubChecksumException(repo, file, algorithm, meta.Etag, actual, incomplete);
            }

            File.Move(incomplete, blob, overwrite: true);
        }
        finally
        {
            checksum.Dispose();
        }
    }

    /// <summary>One attempt: continues <paramref name="incomplete"/> from its current length.</summary>
    private async Task TransferAsync(string repo, string file, string revision, HubFileMetadata meta, string incomplete, RunningChecksum checksum,
        IProgress<DownloadProgress>? progress, CancellationToken attemptToken)
    {
        long have = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
        if (meta.Size is { } size && have > size)
        {
            File.Delete(incomplete);
            have = 0;
        }

        if (meta.Size is { } full && have == full && have > 0)
        {
            return; // a killed process may have written every byte before the rename
        }

        using var response = await GetFollowingRedirectsAsync(meta.Location, have > 0 ? have : null, repo, file, revision, attemptToken).ConfigureAwait(false);
        long start = 0;
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            start = response.Content.Headers.ContentRange?.From ?? -1;
            if (start != have)
            {
                throw new TransientHubException($"server resumed at byte {start}, expected {have}");
            }
        }
        else if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            File.Delete(incomplete); // the partial file is longer than the content: start again
            throw new TransientHubException("server refused the resume range; restarting the file");
        }
        else if (have > 0)
        {
            LogRangeIgnored(_logger, repo, file);
        }

        await using var output = new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        output.SetLength(start);
        output.Position = start;
        await checksum.AlignAsync(incomplete, start, attemptToken).ConfigureAwait(false);
        if (start > 0)
        {
            LogResuming(_logger, repo, file, start);
        }

        await using var body = await response.Content.ReadAsStreamAsync(attemptToken).ConfigureAwait(false);
        var buffer = new byte[CopyBufferSize];
        long done = start;
        var lastReport = Stopwatch.StartNew();
        progress?.Report(new DownloadProgress(repo, file, done, meta.Size, start, DownloadStage.Downloading));
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(attemptToken);
        while (true)
        {
            int n;
            stall.CancelAfter(Options.ReadTimeout);
            try
            {
                n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!attemptToken.IsCancellationRequested)
            {
                throw new TransientHubException($"no data for {Options.ReadTimeout.TotalSeconds:0} s");
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                throw new TransientHubException($"connection lost after {done} bytes: {ex.Message}", ex);
            }

            if (n == 0)
            {
                break;
            }

            await output.WriteAsync(buffer.AsMemory(0, n), attemptToken).ConfigureAwait(false);
            checksum.Append(buffer.AsSpan(0, n));
            done += n;
            if (progress is not null && lastReport.ElapsedMilliseconds >= 100)
            {
                progress.Report(new DownloadProgress(repo, file, done, meta.Size, start, DownloadStage.Downloading));
                lastReport.Restart();
            }
        }

        await output.FlushAsync(attemptToken).ConfigureAwait(false);
        progress?.Report(new DownloadProgress(repo, file, done, meta.Size, start, DownloadStage.Downloading));
        if (meta.Size is { } expected && done < expected)
        {
            throw new TransientHubException($"connection closed after {done} of {expected} bytes");
        }
    }

    private async Task<HttpResponseMessage> GetFollowingRedirectsAsync(Uri url, long? rangeFrom, string repo, string file, string revision, CancellationToken cancellationToken)
    {
        var current = url;
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, current);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (rangeFrom is { } from)
            {
                request.Headers.Range = new RangeHeaderValue(from, null);
            }

            AddAuthorization(request);
            var response = await SendAsync(request, cancellationToken, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                response.Dispose();
                if (hop >= MaxRedirects)
                {
                    throw new HubException(HubErrorKind.Protocol, repo, file, revision, (HttpStatusCode)status, "too many redirects");
                }

                current = new Uri(current, location);
                continue;
            }

            if (status >= 400 && status != 416)
            {
                try
                {
                    throw ToException(response, repo, file, revision);
                }
                finally
                {
                    response.Dispose();
                }
            }

            return response;
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.ReadTimeout);
        try
        {
            return await _http.SendAsync(request, completion, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientHubException($"no answer from {request.RequestUri!.Host} within {Options.ReadTimeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException ex)
        {
            throw new TransientHubException($"{request.RequestUri!.Host}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Runs <paramref name="attempt"/>, retrying transient failures (<see cref="TransientHubException"/>) with
    /// Polly's exponential backoff: <see cref="HubOptions.RetryBaseDelay"/> doubled per retry, capped at 30 s, no jitter,
    /// and a longer <c>Retry-After</c> from the hub honoured up to that cap. After the last retry the failure becomes a
    /// <see cref="HubException"/> of kind <see cref="HubErrorKind.Unavailable"/>.
    /// </summary>
    private async Task<T> WithRetriesAsync<T>(string repo, string file, string revision, Func<CancellationToken, Task<T>> attempt, Action<long>? onRetry,
        CancellationToken cancellationToken, Func<long>? bytesSoFar = null)
    {
        var pipeline = new ResiliencePipelineBuilder<T>()
            .AddRetry(new RetryStrategyOptions<T>
            {
                ShouldHandle = new PredicateBuilder<T>().Handle<TransientHubException>(),
                MaxRetryAttempts = Math.Max(1, Options.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = Options.RetryBaseDelay,
                MaxDelay = MaxRetryDelay,
                DelayGenerator = args =>
                {
                    // The backoff Polly would use for this attempt; a longer Retry-After (within the cap) wins.
                    var backoff = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, Options.RetryBaseDelay.Ticks * (1L << Math.Min(args.AttemptNumber, 20))));
                    return ValueTask.FromResult<TimeSpan?>(args.Outcome.Exception is TransientHubException { RetryAfter: { } after } && after > backoff && after <= MaxRetryDelay
                        ? after : backoff);
                },
                OnRetry = args =>
                {
                    LogRetry(_logger, repo, file, args.AttemptNumber + 1, Options.MaxRetries, args.RetryDelay.TotalSeconds, args.Outcome.Exception?.Message ?? "");
                    onRetry?.Invoke(bytesSoFar?.Invoke() ?? 0);
                    return default;
                },
            })
            .Build();
        try
        {
            if (Options.MaxRetries <= 0)
            {
                return await attempt(cancellationToken).ConfigureAwait(false);
            }

            return await pipeline.ExecuteAsync(static async (state, ct) => await state(ct).ConfigureAwait(false), attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (TransientHubException ex)
        {
            throw new HubException(HubErrorKind.Unavailable, repo, file, revision, ex.Status,
                $"the hub kept failing after {Options.MaxRetries} retries: {ex.Message}", ex);
        }
    }

    private bool IsEndpointHost(Uri uri) =>
        string.Equals(uri.Host, _endpoint.Host, StringComparison.OrdinalIgnoreCase) && uri.Port == _endpoint.Port && uri.Scheme == _endpoint.Scheme;

    private void AddAuthorization(HttpRequestMessage request)
    {
        // The token goes to the hub only: a redirect to a CDN or another host must not carry it.
        if (Options.Token is { Length: > 0 } token && request.RequestUri is { } uri && IsEndpointHost(uri))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    private Exception ToException(HttpResponseMessage response, string repo, string file, string revision)
    {
        var status = response.StatusCode;
        var code = Header(response, "X-Error-Code");
        var message = Header(response, "X-Error-Message");
        var hasToken = Options.Token is { Length: > 0 };
        string Detail(string text) => message is null ? text : $"{text} — hub says: {message}";
        return code switch
        {
            "RepoNotFound" => new HubException(HubErrorKind.RepoNotFound, repo, file, revision, status,
                Detail(hasToken ? "repository not found, or private and the token has no access" : "repository not found (if it is private, set HF_TOKEN)")),
            "GatedRepo" => new HubException(HubErrorKind.Forbidden, repo, file, revision, status,
                Detail("gated repository: accept its conditions on the hub page, then use a token of that account (HF_TOKEN)")),
            "RevisionNotFound" => new HubException(HubErrorKind.RevisionNotFound, repo, file, revision, status, Detail($"revision '{revision}' not found")),
            "EntryNotFound" => new HubException(HubErrorKind.EntryNotFound, repo, file, revision, status, Detail("file not found at this revision")),
            _ => (int)status switch
            {
                401 => new HubException(HubErrorKind.Unauthorized, repo, file, revision, status, Detail(hasToken
                    ? "the token was rejected (invalid or expired HF_TOKEN), or the repository does not exist"
                    : "authentication required: the repository is gated or private, or does not exist; set HF_TOKEN")),
                403 => new HubException(HubErrorKind.Forbidden, repo, file, revision, status,
                    Detail("access denied: the token has no access to this repository (gated? accept its conditions on the hub)")),
                404 => new HubException(HubErrorKind.EntryNotFound, repo, file, revision, status, Detail("not found on the hub")),
                429 or >= 500 => new TransientHubException($"HTTP {(int)status} from {response.RequestMessage?.RequestUri?.Host}", status: status,
                    retryAfter: response.Headers.RetryAfter?.Delta),
                _ => new HubException(HubErrorKind.Protocol, repo, file, revision, status, Detail("unexpected answer from the hub")),
            },
        };
    }

    private async Task VerifyExistingAsync(string repo, string file, HubFileMetadata meta, string path, CancellationToken cancellationToken)
    {
        var length = ContentLength(path);
        using var checksum = new RunningChecksum(meta);
        var (algorithm, actual) = await checksum.FinishAsync(path, length, cancellationToken, fromScratch: true).ConfigureAwait(false);
        if (actual is not null && !string.Equals(actual, meta.Etag, StringComparison.OrdinalIgnoreCase))
        {
            // The cached content is wrong: drop the blob and the snapshot link so the next run downloads it again.
            var blob = Cache.BlobPath(repo, meta.Etag);
            var snapshot = Cache.SnapshotPath(repo, meta.CommitHash, file);
            File.Delete(blob);
            File.Delete(snapshot);
            throw new HubChecksumException(repo, file, algorithm, meta.Etag, actual, blob);
        }
    }

    private static async Task<IDisposable> AcquireLockAsync(string lockPath, string repo, string file, TimeSpan limit, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive flock on Unix, the same lock Python's filelock uses.
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (sw.Elapsed < limit)
            {
                await Task.Delay(250, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                throw new IOException($"{repo}/{file}: another process has been downloading it for {limit.TotalMinutes:0} minutes (lock {lockPath})", ex);
            }
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault()
        : response.Content.Headers.TryGetValues(name, out var content) ? content.FirstOrDefault()
        : null;

    /// <summary>Strips a weak marker and quotes: <c>W/"abc"</c> → <c>abc</c>.</summary>
    internal static string? NormalizeEtag(string? etag)
    {
        if (string.IsNullOrWhiteSpace(etag))
        {
            return null;
        }

        var e = etag.Trim();
        if (e.StartsWith("W/", StringComparison.Ordinal))
        {
            e = e[2..];
        }

        e = e.Trim('"');
        return e.Length == 0 ? null : e;
    }

    public void Dispose() => _http.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Repo}/{File}: attempt {Attempt}/{Max} failed, retrying in {Seconds:0.#} s: {Reason}")]
    private static partial void LogRetry(ILogger logger, string repo, string file, int attempt, int max, double seconds, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Repo}/{File}: resuming at byte {Offset}")]
    private static partial void LogResuming(ILogger logger, string repo, string file, long offset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Repo}/{File}: the server ignored the Range request; downloading from the start")]
    private static partial void LogRangeIgnored(ILogger logger, string repo, string file);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Repo}/{File}: corrupt download ({Algorithm} {Actual}, expected {Expected}); removed")]
    private static partial void LogCorrupt(ILogger logger, string repo, string file, string algorithm, string actual, string expected);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Repo}/{File}: hub unreachable, using the cached copy ({Reason})")]
    private static partial void LogUsingCacheAfterFailure(ILogger logger, string repo, string file, string reason);

    /// <summary>A failure worth retrying: 5xx/429, timeout, dropped connection.</summary>
    private sealed class TransientHubException : Exception
    {
        public TransientHubException(string message, Exception? inner = null, HttpStatusCode? status = null, TimeSpan? retryAfter = null)
            : base(message, inner)
        {
            Status = status;
            RetryAfter = retryAfter;
        }

        public HttpStatusCode? Status { get; }

        public TimeSpan? RetryAfter { get; }
    }

    /// <summary>
    /// The content hash kept in step with the <c>.incomplete</c> file across retries: SHA-256 for LFS files (hashed as
    /// bytes arrive, so a 16 GB file is not read twice), git blob SHA-1 (<c>"blob {size}\0" + content</c>) for small
    /// files; null when the ETag is neither (nothing to check against).
    /// </summary>
    private sealed class RunningChecksum : IDisposable
    {
        private readonly HubFileMetadata _meta;
        private readonly IncrementalHash? _sha256;
        private long _hashed;

        public RunningChecksum(HubFileMetadata meta)
        {
            _meta = meta;
            _sha256 = meta.IsLfs ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        }

        private bool IsGitSha1 => _meta.HasContentHash && !_meta.IsLfs;

        /// <summary>Makes the running hash cover exactly the first <paramref name="start"/> bytes of the file.</summary>
        public async Task AlignAsync(string path, long start, CancellationToken cancellationToken)
        {
            if (_sha256 is null || _hashed == start)
            {
                return;
            }

            _sha256.GetHashAndReset();
            _hashed = 0;
            if (start > 0)
            {
                await using var read = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
                await HashRangeAsync(read, _sha256, start, cancellationToken).ConfigureAwait(false);
                _hashed = start;
            }
        }

        public void Append(ReadOnlySpan<byte> data)
        {
            if (_sha256 is not null)
            {
                _sha256.AppendData(data);
                _hashed += data.Length;
            }
        }

        /// <summary>(algorithm, hex digest) of the complete file, or (…, null) when the ETag is not a content hash.</summary>
        public async Task<(string Algorithm, string? Actual)> FinishAsync(string path, long length, CancellationToken cancellationToken, bool fromScratch = false)
        {
            if (_sha256 is not null)
            {
                if (fromScratch || _hashed != length)
                {
                    _sha256.GetHashAndReset();
                    await using var read = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
                    await HashRangeAsync(read, _sha256, length, cancellationToken).ConfigureAwait(false);
                }

                return ("sha256", Convert.ToHexStringLower(_sha256.GetHashAndReset()));
            }

            if (IsGitSha1)
            {
                using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
                sha1.AppendData(Encoding.ASCII.GetBytes($"blob {length.ToString(CultureInfo.InvariantCulture)}\0"));
                await using var read = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
                await HashRangeAsync(read, sha1, length, cancellationToken).ConfigureAwait(false);
                return ("git-sha1", Convert.ToHexStringLower(sha1.GetHashAndReset()));
            }

            return ("none", null);
        }

        private static async Task HashRangeAsync(Stream stream, IncrementalHash hash, long count, CancellationToken cancellationToken)
        {
            var buffer = new byte[CopyBufferSize];
            long left = count;
            while (left > 0)
            {
                int n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new IOException($"{(stream as FileStream)?.Name}: file ended while hashing");
                }

                hash.AppendData(buffer, 0, n);
                left -= n;
            }
        }

        public void Dispose() => _sha256?.Dispose();
    }
}
