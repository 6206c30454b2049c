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
}
