using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HpsSharp.Testing;

namespace HpsSharp.Cluster.Tests;

/// <summary>A real child process (redis-server or the built hps program) whose output is kept for assertions.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();

    private ChildProcess(Process process, string label)
    {
        Process = process;
        Label = label;
    }

    public Process Process { get; }

    public string Label { get; }

    public int Id => Process.Id;

    /// <summary>Everything the process wrote so far (stdout and stderr interleaved).</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The hps program built beside the tests (or in the CLI's own output folder).</summary>
    public static string HpsDll
    {
        get
        {
            var local = Path.Combine(AppContext.BaseDirectory, "hps.dll");
            if (File.Exists(local) && File.Exists(Path.Combine(AppContext.BaseDirectory, "hps.runtimeconfig.json")))
            {
                return local;
            }

            var config = AppContext.BaseDirectory.Contains("/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
            var built = Path.Combine(TestPaths.RepoRoot, "src", "HpsSharp.Cli", "bin", config, "net10.0", "hps.dll");
            return File.Exists(built) ? built : throw new FileNotFoundException($"the hps program is not built: {built}");
        }
    }

    /// <summary>Starts <c>dotnet hps.dll ARGS</c> in <paramref name="workDir"/>.</summary>
    public static ChildProcess Hps(string label, string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workDir };
        psi.ArgumentList.Add(HpsDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Start(label, psi);
    }

    /// <summary>Starts any program (found on PATH).</summary>
    public static ChildProcess Start(string label, ProcessStartInfo psi)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var p = new Process { StartInfo = psi };
        var child = new ChildProcess(p, label);
        p.OutputDataReceived += (_, e) => child.Append(e.Data);
        p.ErrorDataReceived += (_, e) => child.Append(e.Data);
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits for exit and returns the exit code; fails the test with the output when it takes too long.</summary>
    public async Task<int> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{Label} did not exit within {timeout}; output:\n{Output}");
        }

        Process.WaitForExit(); // drains the redirected streams
        return Process.ExitCode;
    }

    /// <summary>kill -9.</summary>
    public void Kill()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>kill -TERM (what an orchestrator sends before it stops a machine).</summary>
    public void Terminate()
    {
        using var kill = Process.Start("kill", ["-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        Process.Dispose();
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _output.AppendLine(line);
        }
    }
}
