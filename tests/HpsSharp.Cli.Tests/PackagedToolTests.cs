using System.Diagnostics;
using System.Text.Json;
using HpsSharp.Diagnostics;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>
/// The hps .NET tool as a user gets it: packed (or taken from <c>HPS_PACKAGES</c>, a folder tools/pack.sh wrote),
/// installed offline from that folder into a temporary tool path, then run on the tiny model.
/// </summary>
[Trait("Category", "Integration")]
[Collection(PackagingCollection.Name)]
public sealed class PackagedToolTests
{
    [Fact]
    public async Task PackedTool_InstallsOfflineFromTheFolder_AndScoresLikeTheBuild()
    {
        using var tmp = TestPaths.TempDir("hps-tool-");
        var packages = Environment.GetEnvironmentVariable("HPS_PACKAGES") is { Length: > 0 } given ? given : Pack(tmp.File("packages"));
        Assert.NotEmpty(Directory.GetFiles(packages, "HpsSharp.Cli.linux-x64.*.nupkg"));

        // Only the packed folder as a source and an empty package cache: offline, and never a stale cached copy.
        var config = tmp.File("nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="packed" value="{packages}" /></packageSources></configuration>
            """);
        var toolPath = tmp.File("tools");
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = tmp.File("nuget-cache") };
        var install = await RunAsync("dotnet", ["tool", "install", "--tool-path", toolPath, "--configfile", config, "HpsSharp.Cli"], env, TimeSpan.FromMinutes(5));
        Assert.True(install.Code == 0, install.Output);

        // The GLIBCXX fix reached the installed copy of the native bridge.
        var bridge = Assert.Single(Directory.GetFiles(toolPath, "libLibTorchSharp.so", SearchOption.AllDirectories));
        Assert.True(ElfVersions.ReadNeeds(bridge).Single(n => n.Version == "GLIBCXX_3.4.32").Weak);

        var model = TestPaths.TinyModelDir(tmp);
        var image = TestPaths.Image("camera.png");
        var hps = Path.Combine(toolPath, "hps");
        var scored = await RunAsync(hps, ["score", "--model", model, "--prompt", "a camera on a table", image, "--dtype", "fp32", "--json"], env, TimeSpan.FromMinutes(2));
        Assert.True(scored.Code == 0, scored.Output);
        var installed = JsonDocument.Parse(scored.Stdout).RootElement.GetProperty("results")[0].GetProperty("mu").GetDouble();

        var (code, stdout, stderr) = await CliHarness.RunAsync("score", "--model", model, "--prompt", "a camera on a table", image, "--dtype", "fp32", "--json");
        Assert.True(code == 0, stderr);
        var built = JsonDocument.Parse(stdout).RootElement.GetProperty("results")[0].GetProperty("mu").GetDouble();
        Assert.True(Math.Abs(installed - built) <= 1e-6, $"installed tool μ {installed} vs build μ {built}");

        var doctor = await RunAsync(hps, ["doctor", "--model", model, "--json"], env, TimeSpan.FromMinutes(1));
        using var report = JsonDocument.Parse(doctor.Stdout);
        var libtorch = report.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "libtorch");
        Assert.True(libtorch.GetProperty("ok").GetBoolean(), doctor.Output);
        Assert.Contains(toolPath, libtorch.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Packs the tool as tools/pack.sh does (without the CI path normalisation) into <paramref name="dir"/>. The
    /// publish staging (0.5 GB of libtorch) goes beside it in the temporary folder, not into the repository.
    /// </summary>
    private static string Pack(string dir)
    {
        var configuration = AppContext.BaseDirectory.Contains("/bin/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
        var project = Path.Combine(TestPaths.RepoRoot, "src", "HpsSharp.Cli");
        var staging = Path.Combine(Path.GetDirectoryName(dir)!, "publish") + Path.DirectorySeparatorChar;
        var r = RunAsync("dotnet", ["pack", project, "-c", configuration, "-o", dir, "-nologo", "-v", "q", $"-p:PublishDir={staging}"],
            new Dictionary<string, string>(), TimeSpan.FromMinutes(10)).GetAwaiter().GetResult();
        Assert.True(r.Code == 0, r.Output);
        return dir;
    }

    private sealed record Result(int Code, string Stdout, string Stderr)
    {
        public string Output => $"exit {Code}\n{Stdout}\n{Stderr}";
    }

    private static async Task<Result> RunAsync(string file, string[] args, Dictionary<string, string> env, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} ran past {timeout}");
        }

        return new Result(p.ExitCode, await stdout, await stderr);
    }
}

/// <summary>
/// Packing builds the Cli project and its references: it runs alone, never beside tests that start the built hps,
/// so a rebuild can never swap files under a running process.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingCollection
{
    public const string Name = "packaging (runs alone)";
}
