using System.Diagnostics;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary><c>tools/demo.sh</c>: loud failures for a missing model or shared folder, and no tool beyond bash and .NET.</summary>
[Trait("Category", "Integration")]
public sealed class DemoScriptTests : IDisposable
{
    private readonly TempDir _tmp = TestPaths.TempDir("hps-demo-");

    public void Dispose() => _tmp.Dispose();

    private static string Script => Path.Combine(TestPaths.RepoRoot, "tools", "demo.sh");

    /// <summary>The hps.dll built beside this test assembly, so the demo does not rebuild the CLI.</summary>
    private static string Cli => Path.Combine(AppContext.BaseDirectory, "hps.dll");

    private async Task<(int Code, string Out, string Err)> RunAsync(Dictionary<string, string?> env)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Script);
        psi.Environment["HPS_DEMO_OUT"] = _tmp.File("work");
        psi.Environment["HPS_CLI"] = Cli;
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task AModelFolderThatIsNotThereIsAnErrorNotTheTinyModel()
    {
        var (code, stdout, stderr) = await RunAsync(new() { ["HPS_MODEL"] = _tmp.File("nowhere") });
        Assert.Equal(1, code);
        Assert.Contains($"HPS_MODEL='{_tmp.File("nowhere")}' is not a folder", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("tiny", stdout, StringComparison.OrdinalIgnoreCase);

        Directory.CreateDirectory(_tmp.File("empty"));
        (code, _, stderr) = await RunAsync(new() { ["HPS_MODEL"] = _tmp.File("empty") });
        Assert.Equal(1, code);
        Assert.Contains("holds no weights", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingSharedFolderIsNamed()
    {
        var (code, _, stderr) = await RunAsync(new() { ["HPS_SHARED"] = _tmp.File("no-shared"), ["HPS_ASSETS"] = null, ["HPS_FIXTURES"] = null, ["HPS_MODEL"] = null });
        Assert.Equal(1, code);
        Assert.Contains($"'{_tmp.File("no-shared")}/assets/images/prompts.json'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScoresEverySamplePhotoWithoutNode()
    {
        // A PATH holding every program of the real one except node (and python, which it never needed either).
        var bin = Directory.CreateDirectory(_tmp.File("bin")).FullName;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries).Where(Directory.Exists))
        {
            foreach (var f in Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(f);
                if (name is "node" or "nodejs" or "python" or "python3" or "jq" || File.Exists(Path.Combine(bin, name)))
                {
                    continue;
                }

                File.CreateSymbolicLink(Path.Combine(bin, name), f);
            }
        }

        var (code, stdout, stderr) = await RunAsync(new()
        {
            ["PATH"] = bin,
            ["HPS_MODEL"] = null,
            ["HPS_ASSETS"] = Path.GetDirectoryName(TestPaths.Asset("images")),
            ["HPS_FIXTURES"] = Path.GetDirectoryName(TestPaths.Fixture("hpsv3-tiny")),
        });
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("tiny RANDOM test model", stdout, StringComparison.Ordinal);
        var photos = File.ReadAllText(TestPaths.Asset("images/prompts.json")).Split('"').Where(s => s.EndsWith(".png", StringComparison.Ordinal) || s.EndsWith(".jpg", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(photos);
        foreach (var photo in photos)
        {
            Assert.Contains("images/" + photo, stdout, StringComparison.Ordinal);
        }
    }
}
