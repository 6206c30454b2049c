using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>A fact that runs only where a container engine answers (docker or podman); elsewhere skipped, saying why.</summary>
public sealed class ContainerFactAttribute : FactAttribute
{
    public ContainerFactAttribute()
    {
        if (ContainerEngine.Name is null)
        {
            Skip = ContainerEngine.Why;
        }
    }
}

internal static class ContainerEngine
{
    private static readonly Lazy<(string? Name, string Why)> Found = new(Find);

    public static string? Name => Found.Value.Name;

    public static string Why => Found.Value.Why;

    private static (string?, string) Find()
    {
        var tried = new List<string>();
        foreach (var engine in new[] { "docker", "podman" })
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo(engine, "info") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
                p.StandardOutput.ReadToEnd();
                var err = p.StandardError.ReadToEnd();
                if (p.WaitForExit(30_000) && p.ExitCode == 0)
                {
                    return (engine, string.Empty);
                }

                tried.Add($"{engine}: {err.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? $"exit {p.ExitCode}"}");
            }
            catch (System.ComponentModel.Win32Exception)
            {
                tried.Add($"{engine}: not installed");
            }
        }

        return (null, "no container engine answers (" + string.Join("; ", tried) + ")");
    }
}

/// <summary>The Dockerfile builds, runs as a non-root user, and the container answers /readyz with the tiny model mounted.</summary>
[Trait("Category", "Integration")]
public sealed class ContainerTests
{
    [ContainerFact]
    public async Task Image_Builds_RunsNonRoot_AndBecomesReadyWithAMountedModel()
    {
        var engine = ContainerEngine.Name!;
        var tag = "hpssharp-test:" + Guid.NewGuid().ToString("N")[..8];
        var build = await RunAsync(engine, ["build", "-t", tag, TestPaths.RepoRoot], TimeSpan.FromMinutes(20));
        Assert.True(build.Code == 0, build.Output);
        string? container = null;
        try
        {
            var user = await RunAsync(engine, ["image", "inspect", "-f", "{{.Config.User}}", tag], TimeSpan.FromMinutes(1));
            Assert.True(user.Code == 0, user.Output);
            Assert.False(string.IsNullOrWhiteSpace(user.Stdout) || user.Stdout.Trim() is "root" or "0", $"image user '{user.Stdout.Trim()}'");

            // The mount must hold real files: the fixture folder's links point outside it.
            using var tmp = TestPaths.TempDir();
            var model = Directory.CreateDirectory(tmp.File("model")).FullName;
            foreach (var f in Directory.GetFiles(TestPaths.TinyModelDir(tmp)))
            {
                File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
            }

            int port = FreePort();
            var run = await RunAsync(engine, ["run", "-d", "-p", $"127.0.0.1:{port}:8080", "-v", $"{model}:/model:ro", tag], TimeSpan.FromMinutes(1));
            Assert.True(run.Code == 0, run.Output);
            container = run.Stdout.Trim();

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow.AddMinutes(2);
            HttpStatusCode? last = null;
            while (DateTime.UtcNow < deadline && last != HttpStatusCode.OK)
            {
                try
                {
                    last = (await http.GetAsync(new Uri($"http://127.0.0.1:{port}/readyz"))).StatusCode;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(1000);
                }
            }

            var logs = await RunAsync(engine, ["logs", container], TimeSpan.FromMinutes(1));
            Assert.True(last == HttpStatusCode.OK, $"/readyz never answered 200 (last {last}); logs:\n{logs.Output}");
        }
        finally
        {
            if (container is not null)
            {
                await RunAsync(engine, ["rm", "-f", container], TimeSpan.FromMinutes(1));
            }

            await RunAsync(engine, ["rmi", "-f", tag], TimeSpan.FromMinutes(1));
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private sealed record Result(int Code, string Stdout, string Stderr)
    {
        public string Output => $"exit {Code}\n{Stdout}\n{Stderr}";
    }

    private static async Task<Result> RunAsync(string file, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
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
            return new Result(-1, await stdout, await stderr + $"\n(killed after {timeout})");
        }

        return new Result(p.ExitCode, await stdout, await stderr);
    }
}
