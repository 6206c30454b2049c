using System.Text.Json;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class DoctorCommandTests
{
    [Fact]
    public async Task Json_OnAHealthyTinyModel_ExitsZero_AndPrintsOnlyTheDocument()
    {
        using var tmp = TestPaths.TempDir();
        var (code, stdout, stderr) = await CliHarness.RunAsync("doctor", "--model", TestPaths.TinyModelDir(tmp), "--json");
        using var doc = JsonDocument.Parse(stdout);
        var failed = doc.RootElement.GetProperty("checks").EnumerateArray().Where(c => !c.GetProperty("ok").GetBoolean())
            .Select(c => c.GetProperty("name").GetString() + ": " + c.GetProperty("detail").GetString()).ToList();
        // This machine's free memory decides the memory check; everything else must pass.
        Assert.True(code == 0 || failed.All(f => f.StartsWith("memory", StringComparison.Ordinal)), string.Join("; ", failed) + stderr);
        Assert.Equal(code == 0, doc.RootElement.GetProperty("ok").GetBoolean());
        Assert.Contains(doc.RootElement.GetProperty("checks").EnumerateArray(), c => c.GetProperty("name").GetString() == "tokenizer" && c.GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task MissingTokenizer_ExitsOne_WithTheFixInPlainText()
    {
        using var tmp = TestPaths.TempDir();
        var dir = TestPaths.TinyModelDir(tmp);
        File.Delete(Path.Combine(dir, "tokenizer.json"));
        File.Delete(Path.Combine(dir, "merges.txt"));
        var (code, stdout, _) = await CliHarness.RunAsync("doctor", "--model", dir);
        Assert.Equal(1, code);
        Assert.Contains("FAIL tokenizer:", stdout, StringComparison.Ordinal);
        Assert.Contains("fix: copy tokenizer.json", stdout, StringComparison.Ordinal);
        Assert.Contains("required check(s) failed", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownOption_IsAUsageError()
    {
        var (code, _, stderr) = await CliHarness.RunAsync("doctor", "--modle", "x");
        Assert.Equal(2, code);
        Assert.Contains("--modle", stderr, StringComparison.Ordinal);
    }
}
