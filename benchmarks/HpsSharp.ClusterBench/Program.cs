// The cluster's overhead per item, without the model: one worker silo in this process whose scorer answers at once,
// Redis on a free loopback port, and the real job client. Every item still goes through a lease, a result report,
// two Redis grain-state writes and the client's paging and line write, so items/s here is the ceiling the
// cluster machinery allows one worker, and 1/that is the overhead a real scorer's time is added to.
//
//   dotnet run -c Release --project benchmarks/HpsSharp.ClusterBench -- [items=2000]
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HpsSharp.Cluster;
using HpsSharp.Core.Scoring;
using Microsoft.Extensions.Hosting;

int items = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2000;
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
