// The cluster's overhead per item, without the model: one worker silo in this process whose scorer answers at once,
// Redis on a free loopback port, and the real job client. Every item still goes through a lease, a result report,
// two Redis grain-state writes and the client's paging and line write, so items/s here is the ceiling the
// cluster machinery allows one worker, and 1/that is the overhead a real scorer's time is added to.
//
// Then the gateway path (hps eval/serve --cluster): ClusterScorer calls of 1 and 8 items in a row, each a short job,
// with the idle worker polling every 50 ms (the default) and every 500 ms (the earlier default); the time per call
// is what the cluster adds to a request's scoring time.
//
//   dotnet run -c Release --project benchmarks/HpsSharp.ClusterBench -- [items=2000] [calls=40]
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HpsSharp.Cluster;
using HpsSharp.Core.Scoring;
using Microsoft.Extensions.Hosting;

int items = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2000;
int calls = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 40;
int port;
using (var l = new TcpListener(IPAddress.Loopback, 0))
{
    l.Start();
    port = ((IPEndPoint)l.LocalEndpoint).Port;
}

using var redis = Process.Start(new ProcessStartInfo("redis-server", $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no") { RedirectStandardOutput = true })!;
await Task.Delay(500);
Console.WriteLine($"machine: {Environment.ProcessorCount} cpu, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; {items} items per run");
var tmp = Directory.CreateTempSubdirectory("hps-cluster-overhead-");
var requests = Enumerable.Range(0, items).Select(i => new ScoreRequest($"prompt {i % 13}", ImageInput.FromPath($"/nonexistent/{i}.png"))).ToList();
try
{
    foreach (int lease in new[] { 1, 4, 16, 64 })
    {
        var address = ClusterAddress.Parse($"redis://127.0.0.1:{port}", $"lease{lease}");
        using var scorer = new InstantScorer();
        using var host = WorkerHost.Build(new WorkerOptions(address, "bench", 0, 0, null, lease, FastFailureDetection: true), scorer);
        await host.StartAsync();
        await using (var client = await ClusterConnection.ConnectAsync(address))
        {
            var sw = Stopwatch.StartNew();
            var summary = await new JobRunner(client.Grains).RunAsync(new JobSubmission("overhead", requests, Path.Combine(tmp.FullName, $"out{lease}.jsonl")));
            sw.Stop();
            Console.WriteLine($"lease {lease,2}: {summary.Done} items in {sw.Elapsed.TotalSeconds:F2} s = {items / sw.Elapsed.TotalSeconds:F0} items/s; {sw.Elapsed.TotalMilliseconds / items:F2} ms per item (submission included)");
        }

        await host.StopAsync();
    }

    foreach (int pollMs in new[] { 50, 500 })
    {
        var address = ClusterAddress.Parse($"redis://127.0.0.1:{port}", $"gateway{pollMs}");
        using var scorer = new InstantScorer();
        using var host = WorkerHost.Build(new WorkerOptions(address, "bench", 0, 0, null, 4, FastFailureDetection: true, PollInterval: TimeSpan.FromMilliseconds(pollMs)), scorer);
        await host.StartAsync();
        using var gateway = await ClusterScorer.ConnectAsync(address);
        foreach (int size in new[] { 1, 8 })
        {
            var batch = Enumerable.Range(0, size).Select(i => new ScoreRequest($"prompt {i}", ImageInput.FromBytes(new byte[50_000], $"img{i}.png"))).ToList();
            await gateway.ScoreAsync(batch); // warm-up: grain activation, connections
            var ms = new List<double>();
            for (int c = 0; c < calls; c++)
            {
                var sw = Stopwatch.StartNew();
                var results = await gateway.ScoreAsync(batch);
                ms.Add(sw.Elapsed.TotalMilliseconds);
                if (results.Any(r => !r.Ok))
                {
                    throw new InvalidOperationException("a gateway call failed: " + results.First(r => !r.Ok).Error);
                }
            }

            ms.Sort();
            Console.WriteLine($"gateway, worker idle poll {pollMs} ms, {size} item(s) per call: median {ms[ms.Count / 2]:F1} ms, p90 {ms[(int)(ms.Count * 0.9)]:F1} ms, max {ms[^1]:F1} ms over {calls} calls (50 kB upload per item)");
        }

        await host.StopAsync();
    }
}
finally
{
    redis.Kill();
    tmp.Delete(recursive: true);
}

/// <summary>Scores every item 0 at once: the cluster's cost without a model's.</summary>
internal sealed class InstantScorer : IScorer
{
    public ModelInfo Model { get; } = new("instant (benchmark)", "instant", false, "fp32", 1, 1);

    public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<ScoreResult>>([.. requests.Select(r => ScoreResult.Success(r, new Score(0, 0)))]);

    public void Dispose()
    {
    }
}
