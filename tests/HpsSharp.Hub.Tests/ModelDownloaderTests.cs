using System.Text;
using System.Text.Json;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Hub.Tests;

[Trait("Category", "Integration")]
public sealed class ModelDownloaderTests : IAsyncLifetime
{
    internal const string HpsCommit = "1111111111111111111111111111111111111111";
    internal const string QwenCommit = "2222222222222222222222222222222222222222";

    private FakeHub _hub = null!;
    private readonly TempDir _tmp = new("hps-dl-");

    public async Task InitializeAsync() => _hub = await FakeHub.StartAsync();

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        _tmp.Dispose();
    }

    /// <summary>Publishes a fake HPSv3 + Qwen2-VL pair; returns the weights' bytes.</summary>
    internal static byte[] Publish(FakeHub hub, bool withChatTemplate = true, bool withShards = true)
    {
        var weights = HubClientTests.RandomBytes(256_000, 42);
        hub.Add(ModelDownloader.HpsRepo, "HPSv3.safetensors", weights, lfs: true, HpsCommit);
        foreach (var name in ModelDownloader.RequiredBaseFiles.Concat(ModelDownloader.TokenizerFiles).Concat(["preprocessor_config.json", "generation_config.json"]))
        {
            hub.Add(ModelDownloader.QwenRepo, name, Encoding.UTF8.GetBytes($"{{\"file\": \"{name}\"}}"), lfs: name == "tokenizer.json", QwenCommit);
        }

        if (withChatTemplate)
        {
            hub.Add(ModelDownloader.QwenRepo, "chat_template.json", Encoding.UTF8.GetBytes("{\"file\": \"chat_template.json\"}"), lfs: false, QwenCommit);
        }

        if (withShards)
        {
            // The base weights exist on the hub; the downloader must never ask for them.
            hub.Add(ModelDownloader.QwenRepo, "model-00001-of-00005.safetensors", new byte[16], lfs: true, QwenCommit);
        }

        return weights;
    }

    private HubClient Client() => new(new HubOptions
    {
        Endpoint = _hub.Endpoint,
        CacheDir = Path.Combine(_tmp.Path, "hub"),
        HfHome = _tmp.Path,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
    });

    [Fact]
    public async Task AssemblesAModelFolderOfLinksIntoBothSnapshots()
    {
        var weights = Publish(_hub);
        using var client = Client();

        var result = await ModelDownloader.DownloadAsync(client, new ModelDownloadOptions());

        Assert.Equal(Path.Combine(_tmp.Path, "hpssharp", "models", $"hpsv3-{HpsCommit[..12]}-qwen2-vl-7b-instruct-{QwenCommit[..12]}"), result.ModelDir);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(result.ModelDir, "HPSv3.safetensors")));
        foreach (var name in ModelDownloader.RequiredBaseFiles.Concat(ModelDownloader.TokenizerFiles).Concat(ModelDownloader.OptionalBaseFiles))
        {
            var link = new FileInfo(Path.Combine(result.ModelDir, name));
            Assert.NotNull(link.LinkTarget);
            Assert.False(Path.IsPathRooted(link.LinkTarget));
            Assert.Contains($"\"{name}\"", File.ReadAllText(link.FullName), StringComparison.Ordinal);
        }

        Assert.Empty(result.Missing);
        Assert.Equal(0, _hub.Count("HEAD", "model-0000"));
        Assert.Equal(0, _hub.Count("GET", "model-0000"));
        using var source = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.ModelDir, ModelDownloader.SourceFileName)));
        Assert.Equal(HpsCommit, source.RootElement.GetProperty("commit").GetString());
        Assert.Equal(QwenCommit, source.RootElement.GetProperty("base_commit").GetString());
        Assert.Equal(weights.Length, source.RootElement.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("name").GetString() == "HPSv3.safetensors").GetProperty("size").GetInt64());
    }

    [Fact]
    public async Task SecondRunFetchesNothingAndMissingOptionalFilesAreSkipped()
    {
        Publish(_hub, withChatTemplate: false);
        using var client = Client();

        var first = await ModelDownloader.DownloadAsync(client, new ModelDownloadOptions());
        long served = _hub.BytesServed;
        var second = await ModelDownloader.DownloadAsync(client, new ModelDownloadOptions());

        Assert.Equal(["chat_template.json"], first.Missing);
        Assert.Equal(first.ModelDir, second.ModelDir);
        Assert.Equal(served, _hub.BytesServed);
        Assert.All(second.Files, f => Assert.False(f.Downloaded));
        Assert.False(File.Exists(Path.Combine(first.ModelDir, "chat_template.json")));
    }

    [Fact]
    public async Task MissingRequiredFileFailsBeforeTheBigDownload()
    {
        _hub.Add(ModelDownloader.HpsRepo, "HPSv3.safetensors", new byte[1000], lfs: true, HpsCommit);
        _hub.Add(ModelDownloader.QwenRepo, "config.json", "{}"u8.ToArray(), lfs: false, QwenCommit);
        using var client = Client();

        var ex = await Assert.ThrowsAsync<HubException>(() => ModelDownloader.DownloadAsync(client, new ModelDownloadOptions()));

        Assert.Equal(HubErrorKind.EntryNotFound, ex.Kind);
        Assert.Equal("tokenizer_config.json", ex.File);
        Assert.Equal(0, _hub.Count("HEAD", "HPSv3.safetensors"));
    }

    [Fact]
    public async Task VocabAndMergesStandInForTokenizerJsonButOneOfThemIsNeeded()
    {
        _hub.Add(ModelDownloader.HpsRepo, "HPSv3.safetensors", new byte[1000], lfs: true, HpsCommit);
        foreach (var name in new[] { "config.json", "tokenizer_config.json", "vocab.json" })
        {
            _hub.Add(ModelDownloader.QwenRepo, name, "{}"u8.ToArray(), lfs: false, QwenCommit);
        }

        using var client = Client();
        var ex = await Assert.ThrowsAsync<HubException>(() => ModelDownloader.DownloadAsync(client, new ModelDownloadOptions()));
        Assert.Contains("vocab.json + merges.txt", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, _hub.Count("HEAD", "HPSv3.safetensors"));

        _hub.Add(ModelDownloader.QwenRepo, "merges.txt", "#version: 0.2\n"u8.ToArray(), lfs: false, QwenCommit);
        var result = await ModelDownloader.DownloadAsync(client, new ModelDownloadOptions());
        Assert.Contains("tokenizer.json", result.Missing);
        Assert.True(File.Exists(Path.Combine(result.ModelDir, "merges.txt")));
    }

    [Fact]
    public async Task ExplicitOutputFolderAndRevision()
    {
        Publish(_hub);
        using var client = Client();
        var outDir = Path.Combine(_tmp.Path, "my-model");

        var result = await ModelDownloader.DownloadAsync(client, new ModelDownloadOptions { OutputDir = outDir, Revision = HpsCommit });

        Assert.Equal(outDir, result.ModelDir);
        Assert.True(File.Exists(Path.Combine(outDir, "HPSv3.safetensors")));
        Assert.Contains(_hub.Requests, r => r.Path.Contains($"/resolve/{HpsCommit}/HPSv3.safetensors", StringComparison.Ordinal));
    }
}
