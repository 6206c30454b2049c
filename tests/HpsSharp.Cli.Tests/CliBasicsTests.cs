using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class CliBasicsTests
{
    [Fact]
    public async Task VersionPrintsToolName()
    {
        var (code, stdout, _) = await CliHarness.RunAsync("version");
        Assert.Equal(0, code);
        Assert.StartsWith("hps ", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownOptionIsAUsageErrorWithExitCode2()
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync("version", "--no-such-option");
        Assert.Equal(2, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("--no-such-option", stderr, StringComparison.Ordinal);
    }
}
