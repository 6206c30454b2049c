using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Hub.Tests;

[Trait("Category", "Unit")]
public sealed class HubOptionsTests
{
    [Fact]
    public void EnvironmentResolvesLikeHuggingfaceHub()
    {
        var env = new Dictionary<string, string> { ["HF_HOME"] = "/data/hf", ["HF_ENDPOINT"] = "https://mirror.example/", ["HF_TOKEN"] = "hf_x", ["HF_HUB_OFFLINE"] = "1" };
        var o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal("/data/hf", o.HfHome);
        Assert.Equal("/data/hf/hub", o.CacheDir);
        Assert.Equal("https://mirror.example", o.Endpoint);
        Assert.Equal("hf_x", o.Token);
        Assert.True(o.Offline);

        env["HF_HUB_CACHE"] = "/fast/cache";
        env.Remove("HF_HUB_OFFLINE");
        o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal("/fast/cache", o.CacheDir);
        Assert.False(o.Offline);
    }

    [Fact]
    public void DefaultsAndTokenFile()
    {
        using var tmp = new TempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "token"), "hf_from_file\n");
        var env = new Dictionary<string, string> { ["HF_HOME"] = tmp.Path };
        var o = HubOptions.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal("hf_from_file", o.Token);
        Assert.Equal(HubOptions.DefaultEndpoint, o.Endpoint);

        var none = HubOptions.FromEnvironment(k => k == "XDG_CACHE_HOME" ? "/xdg" : null);
        Assert.Equal("/xdg/huggingface", none.HfHome);
        Assert.Equal("/xdg/huggingface/hub", none.CacheDir);
    }

    [Fact]
    public void CacheLayoutNames()
    {
        Assert.Equal("models--Qwen--Qwen2-VL-7B-Instruct", HubCache.RepoFolderName("Qwen/Qwen2-VL-7B-Instruct"));
        Assert.True(HubCache.IsCommitHash("0123456789abcdef0123456789abcdef01234567"));
        Assert.False(HubCache.IsCommitHash("main"));
        Assert.Equal("abc", HubClient.NormalizeEtag("W/\"abc\""));
        Assert.Equal("abc", HubClient.NormalizeEtag("\"abc\""));
        Assert.Null(HubClient.NormalizeEtag(" "));
    }
}
