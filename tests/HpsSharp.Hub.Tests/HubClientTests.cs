using System.Net;
using System.Security.Cryptography;
using System.Text;
using HpsSharp.Core;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Hub.Tests;

[Trait("Category", "Integration")]
public sealed class HubClientTests : IAsyncLifetime
{
    internal const string Commit = "0123456789abcdef0123456789abcdef01234567";
    internal const string Repo = "MizzenAI/HPSv3";

    private FakeHub _hub = null!;
    private readonly TempDir _tmp = new("hps-hub-");

    public async Task InitializeAsync() => _hub = await FakeHub.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        _tmp.Dispose();
    }

    private string CacheDir => Path.Combine(_tmp.Path, "hub");

    private HubClient Client(string? token = null, bool offline = false, string? endpoint = null, int retries = 4) => new(new HubOptions
    {
        Endpoint = endpoint ?? _hub.Endpoint,
        CacheDir = CacheDir,
        HfHome = _tmp.Path,
        Token = token,
        Offline = offline,
        MaxRetries = retries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        ReadTimeout = TimeSpan.FromSeconds(10),
    });

    internal static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public async Task SmallFileLandsInThePythonCacheLayout()
    {
        var content = Encoding.UTF8.GetBytes("{\"hidden_size\": 3584}");
        var f = _hub.Add(Repo, "config.json", content, lfs: false, Commit);
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "config.json");

        var repoDir = Path.Combine(CacheDir, "models--MizzenAI--HPSv3");
        var blob = Path.Combine(repoDir, "blobs", f.GitSha1);
        var snapshot = Path.Combine(repoDir, "snapshots", Commit, "config.json");
        Assert.Equal(snapshot, cached.SnapshotPath);
        Assert.Equal(content, File.ReadAllBytes(blob));
        Assert.Equal(Path.Combine("..", "..", "blobs", f.GitSha1), new FileInfo(snapshot).LinkTarget);
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(repoDir, "refs", "main")));
        Assert.True(cached.Downloaded);
        Assert.True(cached.Verified);
        Assert.Equal(Commit, cached.CommitHash);
        Assert.Empty(Directory.GetFiles(Path.Combine(repoDir, "blobs"), "*.incomplete"));
    }

    [Fact]
    public async Task RelativeRedirectsToTheResolveCacheAndRenamedReposAreFollowed()
    {
        var content = Encoding.UTF8.GetBytes("{\"vocab_size\": 152064}");
        var f = _hub.Add("Qwen/Qwen2-VL-7B-Instruct", "config.json", content, lfs: false, Commit);
        _hub.SmallFilesViaResolveCache = true;
        _hub.Renamed["Qwen/Old-Name"] = "Qwen/Qwen2-VL-7B-Instruct";
        using var client = Client();

        var direct = await client.DownloadAsync("Qwen/Qwen2-VL-7B-Instruct", "config.json");
        var renamed = await client.DownloadAsync("Qwen/Old-Name", "config.json");

        Assert.Equal(content, File.ReadAllBytes(direct.SnapshotPath));
        Assert.True(direct.Verified);
        Assert.Equal(content, File.ReadAllBytes(renamed.SnapshotPath));
        Assert.Contains("models--Qwen--Old-Name", renamed.SnapshotPath, StringComparison.Ordinal);
        Assert.Contains(_hub.Requests, r => r.Method == "GET" && r.Path == $"/api/resolve-cache/models/Qwen/Qwen2-VL-7B-Instruct/{Commit}/config.json");
        Assert.Equal(f.GitSha1, Path.GetFileName(new FileInfo(direct.SnapshotPath).LinkTarget));
    }

    [Fact]
    public async Task LfsFileFollowsTheCdnRedirectAndTheTokenStaysOnTheHub()
    {
        var content = RandomBytes(300_000, 1);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        _hub.RequiredToken = "hf_secret";
        _hub.CdnHost = "localhost"; // another host than 127.0.0.1: the token must not follow the redirect
        using var client = Client(token: "hf_secret");

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");

        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
        Assert.Equal(f.Sha256, Path.GetFileName(new FileInfo(cached.SnapshotPath).LinkTarget));
        Assert.All(_hub.Requests.Where(r => r.Path.Contains("/resolve/", StringComparison.Ordinal)), r => Assert.Equal("Bearer hf_secret", r.Authorization));
        var cdn = Assert.Single(_hub.Requests, r => r.Path.StartsWith("/cdn/", StringComparison.Ordinal));
        Assert.Null(cdn.Authorization);
        Assert.Equal(0, _hub.Count("GET", "/resolve/")); // metadata by HEAD, content from the Location
    }

    [Fact]
    public async Task DroppedConnectionIsResumedWithARange()
    {
        var content = RandomBytes(2_000_000, 2);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        f.DropCount = 2;
        f.DropAfter = 700_000;
        var reports = new List<DownloadProgress>();
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors", progress: new SyncProgress<DownloadProgress>(reports.Add));

        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
        var gets = _hub.Requests.Where(r => r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, gets.Count);
        Assert.Null(gets[0].Range);
        long first = RangeStart(gets[1].Range), second = RangeStart(gets[2].Range);
        Assert.InRange(first, 1, 700_000); // the client kept what arrived before the drop
        Assert.InRange(second, first + 1, first + 700_000);
        Assert.Contains(reports, r => r.Stage == DownloadStage.Retrying);
        Assert.Contains(reports, r => r.Stage == DownloadStage.Downloading && r.ResumedFrom == second);
        Assert.Equal(DownloadStage.Done, reports[^1].Stage);
        Assert.Equal(content.Length, reports[^1].BytesDone);
    }

    private static long RangeStart(string? range)
    {
        Assert.NotNull(range);
        Assert.Matches("^bytes=[0-9]+-$", range);
        return long.Parse(range[6..^1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task ExpiredCdnLinkIsRenewedOnResume()
    {
        var content = RandomBytes(1_500_000, 22);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        f.DropCount = 1;
        f.DropAfter = 600_000;
        f.ExpireLinksOnDrop = true;
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");

        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
        Assert.Equal(2, _hub.Count("HEAD", "/resolve/")); // the first, then one renewal
        var gets = _hub.Requests.Where(r => r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, gets.Count); // dropped, refused (expired), resumed
        Assert.NotNull(gets[2].Range);
    }

    [Fact]
    public async Task KilledProcessLeavesAnIncompleteFileThatTheNextRunCompletes()
    {
        var content = RandomBytes(1_000_000, 3);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        var incomplete = Path.Combine(CacheDir, "models--MizzenAI--HPSv3", "blobs", f.Sha256 + ".incomplete");
        Directory.CreateDirectory(Path.GetDirectoryName(incomplete)!);
        File.WriteAllBytes(incomplete, content[..400_000]);
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");

        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
        Assert.Equal("bytes=400000-", Assert.Single(_hub.Requests, r => r.Path.StartsWith("/cdn/", StringComparison.Ordinal)).Range);
        Assert.Equal(600_000, _hub.BytesServed);
        Assert.False(File.Exists(incomplete));
    }

    [Fact]
    public async Task NotEnoughDiskSpaceFailsBeforeTheTransfer()
    {
        var f = _hub.Add(Repo, "HPSv3.safetensors", RandomBytes(1000, 21), lfs: true, Commit);
        f.AdvertisedSize = 1L << 60;
        using var client = Client();

        var ex = await Assert.ThrowsAsync<UserInputException>(() => client.DownloadAsync(Repo, "HPSv3.safetensors"));

        Assert.Contains("not enough disk space", ex.Message, StringComparison.Ordinal);
        Assert.Contains("HF_HUB_CACHE", ex.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(HubOptions.CacheDir), ex.Field); // the CLI prints it as --cache-dir
        Assert.Equal(0, _hub.Count("GET", "/cdn/"));
    }

    [Fact]
    public async Task ServerThatIgnoresRangeRestartsTheFileCleanly()
    {
        var content = RandomBytes(500_000, 4);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        f.IgnoreRange = true;
        var incomplete = Path.Combine(CacheDir, "models--MizzenAI--HPSv3", "blobs", f.Sha256 + ".incomplete");
        Directory.CreateDirectory(Path.GetDirectoryName(incomplete)!);
        File.WriteAllBytes(incomplete, RandomBytes(100_000, 99)); // wrong bytes: must be discarded, not kept
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");

        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
    }

    [Fact]
    public async Task CorruptBytesAreDetectedAndTheFileRemoved()
    {
        var content = RandomBytes(400_000, 5);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        f.CorruptCount = 1;
        using var client = Client();

        var ex = await Assert.ThrowsAsync<HubChecksumException>(() => client.DownloadAsync(Repo, "HPSv3.safetensors"));

        Assert.Equal("sha256", ex.Algorithm);
        Assert.Equal(f.Sha256, ex.Expected);
        Assert.NotEqual(f.Sha256, ex.Actual);
        Assert.Contains("corrupt", ex.Message, StringComparison.Ordinal);
        var blobs = Path.Combine(CacheDir, "models--MizzenAI--HPSv3", "blobs");
        Assert.Empty(Directory.GetFiles(blobs));
        Assert.False(File.Exists(Path.Combine(CacheDir, "models--MizzenAI--HPSv3", "snapshots", Commit, "HPSv3.safetensors")));

        // The next run fetches it again, this time intact.
        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");
        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
    }

    [Fact]
    public async Task CorruptSmallFileIsDetectedByItsGitBlobHash()
    {
        var f = _hub.Add(Repo, "config.json", Encoding.UTF8.GetBytes("{\"a\": 1, \"b\": 2}"), lfs: false, Commit);
        f.CorruptCount = 1;
        using var client = Client();

        var ex = await Assert.ThrowsAsync<HubChecksumException>(() => client.DownloadAsync(Repo, "config.json"));

        Assert.Equal("git-sha1", ex.Algorithm);
        Assert.Equal(f.GitSha1, ex.Expected);
    }

    [Fact]
    public async Task ServiceUnavailableIsRetriedOnHeadAndGet()
    {
        var content = RandomBytes(100_000, 6);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        f.FailCount = 2;
        f.CdnFailCount = 1;
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");

        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
        Assert.Equal(3, _hub.Count("HEAD", "/resolve/"));
        Assert.Equal(2, _hub.Count("GET", "/cdn/"));
    }

    [Fact]
    public async Task PersistentServerErrorsEndInAClearError()
    {
        var f = _hub.Add(Repo, "HPSv3.safetensors", RandomBytes(10, 7), lfs: true, Commit);
        f.FailCount = 1000;
        using var client = Client(retries: 2);

        var ex = await Assert.ThrowsAsync<HubException>(() => client.DownloadAsync(Repo, "HPSv3.safetensors"));

        Assert.Equal(HubErrorKind.Unavailable, ex.Kind);
        Assert.Contains("503", ex.Message, StringComparison.Ordinal);
        Assert.Equal(3, _hub.Count("HEAD", "/resolve/"));
    }

    [Fact]
    public async Task UnauthorizedNamesTheTokenAndIsNotRetried()
    {
        _hub.Add(Repo, "HPSv3.safetensors", RandomBytes(10, 8), lfs: true, Commit);
        _hub.RequiredToken = "hf_right";
        using var anonymous = Client();
        using var wrong = Client(token: "hf_wrong");

        var noToken = await Assert.ThrowsAsync<HubException>(() => anonymous.DownloadAsync(Repo, "HPSv3.safetensors"));
        var badToken = await Assert.ThrowsAsync<HubException>(() => wrong.DownloadAsync(Repo, "HPSv3.safetensors"));

        Assert.Equal(HubErrorKind.Unauthorized, noToken.Kind);
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.Status);
        Assert.Contains("HF_TOKEN", noToken.Message, StringComparison.Ordinal);
        Assert.Contains("MizzenAI/HPSv3/HPSv3.safetensors", noToken.Message, StringComparison.Ordinal);
        Assert.Contains("rejected", badToken.Message, StringComparison.Ordinal);
        Assert.Equal(2, _hub.Count("HEAD", "/resolve/"));
    }

    [Fact]
    public async Task GatedRepositoryIsReportedAsSuch()
    {
        _hub.Add(Repo, "HPSv3.safetensors", RandomBytes(10, 9), lfs: true, Commit);
        _hub.Gated[Repo] = true;
        using var client = Client(token: "hf_any");

        var ex = await Assert.ThrowsAsync<HubException>(() => client.DownloadAsync(Repo, "HPSv3.safetensors"));

        Assert.Equal(HubErrorKind.Forbidden, ex.Kind);
        Assert.Contains("gated", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotFoundDistinguishesRepoRevisionAndFile()
    {
        _hub.Add(Repo, "HPSv3.safetensors", RandomBytes(10, 10), lfs: true, Commit);
        using var client = Client();

        var file = await Assert.ThrowsAsync<HubException>(() => client.DownloadAsync(Repo, "nope.bin"));
        var rev = await Assert.ThrowsAsync<HubException>(() => client.DownloadAsync(Repo, "HPSv3.safetensors", "v9"));
        var repo = await Assert.ThrowsAsync<HubException>(() => client.DownloadAsync("Nobody/Nothing", "HPSv3.safetensors"));

        Assert.Equal(HubErrorKind.EntryNotFound, file.Kind);
        Assert.Equal(HttpStatusCode.NotFound, file.Status);
        Assert.Equal(HubErrorKind.RevisionNotFound, rev.Kind);
        Assert.Contains("'v9'", rev.Message, StringComparison.Ordinal);
        Assert.Equal(HubErrorKind.RepoNotFound, repo.Kind);
    }

    /// <summary>Builds the cache exactly as Python's huggingface_hub leaves it.</summary>
    internal static string WritePythonCache(string cacheDir, string repo, string commit, string file, byte[] content, string etag)
    {
        var repoDir = Path.Combine(cacheDir, "models--" + repo.Replace("/", "--", StringComparison.Ordinal));
        Directory.CreateDirectory(Path.Combine(repoDir, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        Directory.CreateDirectory(Path.Combine(repoDir, "snapshots", commit));
        File.WriteAllBytes(Path.Combine(repoDir, "blobs", etag), content);
        File.WriteAllText(Path.Combine(repoDir, "refs", "main"), commit);
        var snapshot = Path.Combine(repoDir, "snapshots", commit, file);
        File.CreateSymbolicLink(snapshot, Path.Combine("..", "..", "blobs", etag));
        return snapshot;
    }

    [Fact]
    public async Task FilesPythonAlreadyDownloadedAreNotFetchedAgain()
    {
        var content = RandomBytes(200_000, 11);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        var snapshot = WritePythonCache(CacheDir, Repo, Commit, "HPSv3.safetensors", content, f.Sha256);
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");

        Assert.Equal(snapshot, cached.SnapshotPath);
        Assert.False(cached.Downloaded);
        Assert.Equal(0, _hub.Count("GET", "/"));
        Assert.Equal(1, _hub.Count("HEAD", "/resolve/"));
    }

    [Fact]
    public async Task BlobSharedWithAnotherCommitIsLinkedWithoutDownloading()
    {
        var content = RandomBytes(50_000, 12);
        const string newCommit = "fedcba9876543210fedcba9876543210fedcba98";
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, newCommit);
        WritePythonCache(CacheDir, Repo, Commit, "HPSv3.safetensors", content, f.Sha256);
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors");

        Assert.Equal(newCommit, cached.CommitHash);
        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
        Assert.Equal(0, _hub.Count("GET", "/"));
        Assert.Equal(newCommit, File.ReadAllText(Path.Combine(CacheDir, "models--MizzenAI--HPSv3", "refs", "main")));
    }

    [Fact]
    public async Task OfflineModeAndAnUnreachableHubUseTheCache()
    {
        var content = RandomBytes(1000, 13);
        var snapshot = WritePythonCache(CacheDir, Repo, Commit, "HPSv3.safetensors", content, Convert.ToHexStringLower(SHA256.HashData(content)));
        var closedPort = "http://127.0.0.1:" + FreePortNobodyListensOn();
        using var offline = Client(offline: true, endpoint: closedPort);
        using var unreachable = Client(endpoint: closedPort, retries: 1);

        Assert.Equal(snapshot, (await offline.DownloadAsync(Repo, "HPSv3.safetensors")).SnapshotPath);
        Assert.Equal(snapshot, (await unreachable.DownloadAsync(Repo, "HPSv3.safetensors")).SnapshotPath);
        var missing = await Assert.ThrowsAsync<HubException>(() => offline.DownloadAsync(Repo, "other.bin"));
        Assert.Equal(HubErrorKind.NotCached, missing.Kind);
    }

    [Fact]
    public async Task VerifyRehashesACachedBlobAndDropsItWhenCorrupt()
    {
        var content = RandomBytes(10_000, 14);
        var f = _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        var bad = (byte[])content.Clone();
        bad[5] ^= 1;
        WritePythonCache(CacheDir, Repo, Commit, "HPSv3.safetensors", bad, f.Sha256);
        using var client = Client();

        var plain = await client.DownloadAsync(Repo, "HPSv3.safetensors");
        Assert.False(plain.Verified);
        await Assert.ThrowsAsync<HubChecksumException>(() => client.DownloadAsync(Repo, "HPSv3.safetensors", verify: true));
        var again = await client.DownloadAsync(Repo, "HPSv3.safetensors", verify: true);

        Assert.True(again.Downloaded);
        Assert.Equal(content, File.ReadAllBytes(again.SnapshotPath));
    }

    [Fact]
    public async Task PinnedCommitInTheCacheNeedsNoRequestAtAll()
    {
        var content = RandomBytes(1000, 15);
        WritePythonCache(CacheDir, Repo, Commit, "HPSv3.safetensors", content, Convert.ToHexStringLower(SHA256.HashData(content)));
        using var client = Client();

        var cached = await client.DownloadAsync(Repo, "HPSv3.safetensors", Commit);

        Assert.Equal(content, File.ReadAllBytes(cached.SnapshotPath));
        Assert.Empty(_hub.Requests);
    }

    [Fact]
    public async Task ConcurrentDownloadsOfOneFileShareOneTransfer()
    {
        var content = RandomBytes(3_000_000, 16);
        _hub.Add(Repo, "HPSv3.safetensors", content, lfs: true, Commit);
        using var a = Client();
        using var b = Client();

        var results = await Task.WhenAll(a.DownloadAsync(Repo, "HPSv3.safetensors"), b.DownloadAsync(Repo, "HPSv3.safetensors"));

        Assert.All(results, r => Assert.Equal(content, File.ReadAllBytes(r.SnapshotPath)));
        Assert.Equal(1, _hub.Count("GET", "/cdn/"));
    }

    [Fact]
    public void ResolveUrlEscapesRevisionAndFileLikePython()
    {
        using var client = Client();
        var url = client.ResolveUrl(Repo, "sub dir/file name.json", "refs/pr/1");
        Assert.Equal($"{_hub.Endpoint}/MizzenAI/HPSv3/resolve/refs%2Fpr%2F1/sub%20dir/file%20name.json", url.AbsoluteUri);
        Assert.Throws<ArgumentException>(() => client.ResolveUrl(Repo, "../etc/passwd", "main"));
        Assert.Throws<ArgumentException>(() => client.ResolveUrl("no-slash", "a", "main"));
    }

    internal static int FreePortNobodyListensOn()
    {
        using var l = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

/// <summary>An IProgress that reports synchronously on the caller's thread (Progress&lt;T&gt; posts asynchronously).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    private readonly object _gate = new();

    public void Report(T value)
    {
        lock (_gate)
        {
            report(value);
        }
    }
}
