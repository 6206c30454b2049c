using System.Text;
using System.Text.Json;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Hub.Tests;

/// <summary>
/// <see cref="ModelDownloader.DownloadFilesAsync"/> (what <c>hps model download --scorer X</c> runs) against the fake
/// hub: a baseline's repository files become links at the same relative paths, nested folders included.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ScorerDownloadTests : IAsyncLifetime
{
    private const string Commit = "3333333333333333333333333333333333333333";
    private FakeHub _hub = null!;
    private readonly TempDir _tmp = new("hps-scorer-dl-");

    public async Task InitializeAsync() => _hub = await FakeHub.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        _tmp.Dispose();
    }

    private HubClient Client() => new(new HubOptions
    {
        Endpoint = _hub.Endpoint,
        CacheDir = Path.Combine(_tmp.Path, "hub"),
        HfHome = _tmp.Path,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
    });

    [Fact]
    public async Task PickScoreFilesAreLinkedIntoAFolderNamedByTheCommit()
    {
        var weights = HubClientTests.RandomBytes(64_000, 7);
        _hub.Add("yuvalkirstain/PickScore_v1", "config.json", Encoding.UTF8.GetBytes("{\"model_type\": \"clip\"}"), lfs: false, Commit);
        _hub.Add("yuvalkirstain/PickScore_v1", "model.safetensors", weights, lfs: true, Commit);
        using var client = Client();
        var result = await ModelDownloader.DownloadFilesAsync(client, "pickscore", "yuvalkirstain/PickScore_v1", "main", ["config.json", "model.safetensors"], null, verify: false);
        Assert.Equal(Path.Combine(_tmp.Path, "hpssharp", "models", "pickscore-333333333333"), result.ModelDir);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(result.ModelDir, "model.safetensors")));
        Assert.NotNull(new FileInfo(Path.Combine(result.ModelDir, "model.safetensors")).LinkTarget);
        Assert.Equal("{\"model_type\": \"clip\"}", File.ReadAllText(Path.Combine(result.ModelDir, "config.json")));
        using var source = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.ModelDir, ModelDownloader.SourceFileName)));
        Assert.Equal("yuvalkirstain/PickScore_v1", source.RootElement.GetProperty("repo").GetString());
        Assert.Equal(Commit, result.Commit);

        // Again: everything comes from the cache, the folder is the same.
        int gets = _hub.Count("GET", "model.safetensors");
        var again = await ModelDownloader.DownloadFilesAsync(client, "pickscore", "yuvalkirstain/PickScore_v1", "main", ["config.json", "model.safetensors"], null, verify: false);
        Assert.Equal(result.ModelDir, again.ModelDir);
        Assert.Equal(gets, _hub.Count("GET", "model.safetensors"));
    }

    [Fact]
    public async Task NestedPathsKeepTheirFolderAndAMissingFileNamesItself()
    {
        _hub.Add("some/scorer", "w.pth", new byte[] { 1, 2, 3 }, lfs: true, Commit);
        _hub.Add("some/scorer", "clip/config.json", Encoding.UTF8.GetBytes("{}"), lfs: false, Commit);
        using var client = Client();
        var outDir = Path.Combine(_tmp.Path, "out");
        var result = await ModelDownloader.DownloadFilesAsync(client, "x", "some/scorer", "main", ["w.pth", "clip/config.json"], outDir, verify: false);
        Assert.Equal(outDir, result.ModelDir);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(outDir, "w.pth")));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(outDir, "clip", "config.json")));

        var ex = await Assert.ThrowsAsync<HubException>(() => ModelDownloader.DownloadFilesAsync(client, "x", "some/scorer", "main", ["w.pth", "nothere.bin"], Path.Combine(_tmp.Path, "out2"), verify: false));
        Assert.Contains("nothere.bin", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_tmp.Path, "out2")), "nothing is assembled when a file is missing");
    }
}
