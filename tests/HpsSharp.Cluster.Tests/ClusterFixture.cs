using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Cluster.Grains;
using HpsSharp.Core.Scoring;
using HpsSharp.Modeling;
using HpsSharp.Testing;

namespace HpsSharp.Cluster.Tests;

/// <summary>
/// One cluster for the whole test class: redis-server on a free loopback port and two worker processes (w1, w2) of
/// the built hps program with the tiny model, fast failure detection and one thread each. Tests add and kill their
/// own extra workers; the shared two stay up.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly List<ChildProcess> _children = [];
    private HpsScorer? _reference;

    public TempDir Dir { get; } = TestPaths.TempDir("hps-cluster-");

    public string ModelDir { get; private set; } = string.Empty;

    public int RedisPort { get; private set; }

    public string Cluster => $"redis://127.0.0.1:{RedisPort}";

    public ClusterConnection Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ModelDir = TestPaths.TinyModelDir(Dir);
        RedisPort = ChildProcess.FreePort();
        var redis = new ProcessStartInfo("redis-server");
        foreach (var a in new[] { "--port", RedisPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty, "--appendonly", "no" })
        {
            redis.ArgumentList.Add(a);
        }

        try
        {
            _children.Add(ChildProcess.Start("redis-server", redis));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed (run 'bash tools/ci-packages.sh')", ex);
        }

        await WaitForPortAsync(RedisPort, TimeSpan.FromSeconds(10));
        StartWorker("w1");
        StartWorker("w2");
        // The client gives up after 15 s without a gateway; the workers may take longer to load and join on a busy machine.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            try
            {
                Connection = await ClusterConnection.ConnectAsync(ClusterAddress.Parse(Cluster), CancellationToken.None);
                break;
            }
            catch (ClusterUnavailableException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }
        }

        await WaitForWorkersAsync(["w1", "w2"], TimeSpan.FromSeconds(90));
    }

    public async Task DisposeAsync()
    {
        if (Connection is not null)
        {
            await Connection.DisposeAsync();
        }

        foreach (var c in _children)
        {
            c.Dispose();
        }

        _reference?.Dispose();
        Dir.Dispose();
    }

    /// <summary>Starts a worker process of the built hps program.</summary>
    public ChildProcess StartWorker(string name, params string[] extra)
    {
        var args = new List<string>
        {
            "cluster", "worker", "--model", ModelDir, "--cluster", Cluster, "--name", name,
            "--silo-port", "0", "--gateway-port", "0", "--fast-failure-detection", "--threads", "1",
            "--batch-size", "1", "--lease-size", "2",
        };
        args.AddRange(extra);
        var child = ChildProcess.Hps($"worker {name}", Dir.Path, [.. args]);
        _children.Add(child);
        return child;
    }

    /// <summary>Runs <c>hps ARGS</c> to completion (the client side).</summary>
    public async Task<(int Code, string Output)> HpsAsync(TimeSpan timeout, params string[] args)
    {
        using var child = ChildProcess.Hps("hps " + string.Join(' ', args.Take(2)), Dir.Path, args);
        int code = await child.WaitAsync(timeout);
        return (code, child.Output);
    }

    /// <summary>Starts a client without waiting (to kill it).</summary>
    public ChildProcess StartHps(params string[] args)
    {
        var child = ChildProcess.Hps("hps client", Dir.Path, args);
        _children.Add(child);
        return child;
    }

    public async Task<IReadOnlyList<WorkerStatus>> WorkersAsync() =>
        await Connection.Grains.GetGrain<IClusterRegistryGrain>(0).WorkersAsync(WorkerOptions.WorkerStaleAfter);

    public async Task WaitForWorkersAsync(IReadOnlyCollection<string> names, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var live = (await WorkersAsync()).Select(w => w.Worker.Name).ToHashSet();
            if (names.All(live.Contains))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"workers {string.Join(", ", names)} did not register within {timeout} (live: {string.Join(", ", live)}); output:\n" +
                    string.Join("\n", _children.Select(c => $"--- {c.Label}\n{c.Output}")));
            }

            await Task.Delay(300);
        }
    }

    /// <summary>Writes a manifest of <paramref name="count"/> items over the sample photos; returns its path.</summary>
    public string Manifest(string name, int count, Func<int, (string Prompt, string Image)>? item = null)
    {
        var images = new[] { "astronaut.png", "chelsea.png", "coffee.png", "coins.png", "camera.png", "rocket.jpg" };
        var path = Dir.File(name);
        using var w = new StreamWriter(path);
        for (int i = 0; i < count; i++)
        {
            var (prompt, image) = item?.Invoke(i) ?? ($"a photo number {i % 7}", TestPaths.Image(images[i % images.Length]));
            w.WriteLine(JsonSerializer.Serialize(new { prompt, image }));
        }

        return path;
    }

    /// <summary>
    /// The single-machine scores: what <c>hps score --batch-size 1</c> computes (the same scorer, bf16). Batch size 1
    /// on both sides, because in bf16 the batch a item lands in (its padding) moves μ by up to about 0.01 on the tiny
    /// model, on one machine as much as on the cluster; per item the numbers are then identical.
    /// </summary>
    public async Task<IReadOnlyList<ScoreResult>> SingleMachineAsync(string manifest)
    {
        _reference ??= HpsScorer.Load(ModelDir, new HpsScorerOptions(Precision.Bf16, DeviceSpec.Cpu, 1));
        return await _reference.ScoreAsync(ScoreInputs.FromManifest(manifest));
    }

    /// <summary>The output lines, parsed, keyed by index; fails on a duplicate index.</summary>
    public static SortedDictionary<int, JsonElement> ReadOutput(string path)
    {
        var lines = new SortedDictionary<int, JsonElement>();
        foreach (var line in File.ReadLines(path).Where(l => l.Length > 0))
        {
            var e = JsonDocument.Parse(line).RootElement.Clone();
            int index = e.GetProperty("index").GetInt32();
            Assert.True(lines.TryAdd(index, e), $"index {index} appears twice in {path}");
        }

        return lines;
    }

    private static async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }
}
