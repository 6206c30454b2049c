using System.Text;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster.Grains;
using HpsSharp.Core;
using HpsSharp.Testing;

namespace HpsSharp.Cluster.Tests;

/// <summary>The parts that need no cluster: addresses, the output file's exactly-once bookkeeping, CLI usage errors.</summary>
[Trait("Category", "Unit")]
public sealed class UnitTests
{
    [Fact]
    public void Cluster_addresses_parse_and_bad_ones_name_the_option()
    {
        var a = ClusterAddress.Parse("redis://10.0.0.5:6380/2", "blue");
        Assert.Equal(("10.0.0.5", 6380, 2, "blue", (string?)null), (a.Host, a.Port, a.Database, a.ClusterId, a.Password));
        Assert.False(a.IsLoopback);
        var b = ClusterAddress.Parse("redis://:s3cret@127.0.0.1");
        Assert.Equal((6379, "s3cret", ClusterNames.DefaultClusterId), (b.Port, b.Password, b.ClusterId));
        Assert.True(b.IsLoopback);
        var ex = Assert.Throws<UserInputException>(() => ClusterAddress.Parse("http://host:1"));
        Assert.Equal(nameof(ClusterAddress), ex.Field);
        Assert.Throws<UserInputException>(() => ClusterAddress.Parse("redis://host:1/notanumber"));
    }

    [Fact]
    public void Results_file_cuts_a_torn_line_and_writes_each_index_once()
    {
        using var dir = TestPaths.TempDir();
        var path = dir.File("out.jsonl");
        var first = Encoding.UTF8.GetString(ResultsFile.Line(new FinishedItem(1, 2, "p", "b.png", 0.5, -1, "w1", null)));
        File.WriteAllText(path, first + "{\"index\": 0, \"prompt\": \"p\", \"ima"); // a crash mid-line
        using (var file = ResultsFile.Open(path, 3))
        {
            Assert.Equal([2], file.Written);
            Assert.False(file.Append(new FinishedItem(2, 2, "p", "b.png", 9, 9, "w2", null))); // already there
            Assert.True(file.Append(new FinishedItem(3, 0, "p", "a.png", null, null, "w2", "image not found")));
            Assert.True(file.Append(new FinishedItem(4, 1, "p", "c.png", 0.25, 0, "w1", null)));
            file.SortByIndex();
        }

        var lines = File.ReadAllLines(path);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("{\"index\":0,", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"error\":\"image not found\"", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("{\"index\":1,", lines[1], StringComparison.Ordinal);
        Assert.Equal(first.TrimEnd('\n'), lines[2]); // the line from before the crash is kept byte for byte
    }

    [Fact]
    public void Results_file_of_another_manifest_is_refused()
    {
        using var dir = TestPaths.TempDir();
        var path = dir.File("out.jsonl");
        File.WriteAllText(path, "{\"index\":7,\"prompt\":\"p\",\"image\":\"x\",\"mu\":1}\n");
        Assert.Contains("beyond the manifest's 3 items", Assert.Throws<UserInputException>(() => ResultsFile.Open(path, 3)).Message, StringComparison.Ordinal);
        File.WriteAllText(path, "{\"index\":1}\n{\"index\":1}\n");
        Assert.Contains("appears twice", Assert.Throws<UserInputException>(() => ResultsFile.Open(path, 3)).Message, StringComparison.Ordinal);
        File.WriteAllText(path, "not json\n");
        Assert.Throws<UserInputException>(() => ResultsFile.Open(path, 3));
    }

    [Theory]
    [InlineData(2, "score", "--cluster", "redis://127.0.0.1:1", "--manifest", "m.jsonl")]
    [InlineData(2, "score", "--prompt", "p", "x.png")]
    [InlineData(2, "score", "--model", "m", "--out", "o.jsonl", "--prompt", "p", "x.png")]
    [InlineData(2, "score", "--cluster", "redis://127.0.0.1:1", "--manifest", "m.jsonl", "--out", "o.jsonl", "--lease-seconds", "1")]
    [InlineData(1, "score", "--cluster", "http://nowhere", "--manifest", "m.jsonl", "--out", "o.jsonl")]
    [InlineData(2, "cluster", "worker", "--model", "m")]
    public async Task Cli_misuse_is_a_usage_or_user_error(int expected, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, new CliEnvironment(stdout, stderr, interactive: false, _ => throw new InvalidOperationException("no model here")));
        Assert.True(code == expected, $"exit {code}: {stderr}");
        Assert.Equal(string.Empty, stdout.ToString());
    }
}
