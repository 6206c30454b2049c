using System.Diagnostics;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Server.Tests;

/// <summary>Runs the stdlib Python client's unittest suite with /usr/bin/python3 against a live service.</summary>
[Trait("Category", "Integration")]
public sealed class PythonClientTests
{
    internal const string Python = "/usr/bin/python3";

    [PythonFact]
    public async Task PythonClientSuitePassesAgainstALiveService()
    {
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { ApiKey = "py-key", MaxBatchSize = 4 });
        var clientDir = Path.Combine(TestPaths.RepoRoot, "clients", "python");
        var psi = new ProcessStartInfo(Python, ["-m", "unittest", "discover", "-s", "tests", "-v"])
        {
            WorkingDirectory = clientDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["HPS_URL"] = host.BaseAddress.ToString().TrimEnd('/');
        psi.Environment["HPS_API_KEY"] = "py-key";
        psi.Environment["HPS_FAKE_SCORER"] = "1";
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, "python client tests failed:\n" + output);
        Assert.Contains("test_score_bytes_and_paths_in_order", output, StringComparison.Ordinal);
        Assert.DoesNotContain("test_score_bytes_and_paths_in_order (test_client.ClientTests.test_score_bytes_and_paths_in_order) ... skipped", output, StringComparison.Ordinal);
        Assert.True(scorer.Items > 10, $"the service scored only {scorer.Items} items");
    }
}

/// <summary>A fact that is skipped, with the reason, where /usr/bin/python3 is absent.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (!File.Exists(PythonClientTests.Python))
        {
            Skip = $"{PythonClientTests.Python} is absent, so the Python client cannot be tested here";
        }
    }
}
