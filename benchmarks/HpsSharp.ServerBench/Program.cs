// Service vs offline throughput in one process, so both see the same machine load. "Offline" is what `hps score`
// does after loading: one ScoreAsync over all items (the scorer batches them by --batch-size). "Service" is the same
// scorer behind RewardService, driven over HTTP by loadtest.py (which also checks every answer against offline's).
// Besides the wall-time ratio, each round prints CPU per item (this process's CPU time, plus the load generator's own)
// for both, whose ratio holds even when other processes share the cores.
// The scorer is the real HpsScorer with --model DIR [--tokenizer DIR] [--dtype bf16|fp32], or else a simulated one
// that burns (batch-ms + item-ms * n) of CPU per call (service overhead only; NOT the real-model ratio).
//
//   dotnet run -c Release --project benchmarks/HpsSharp.ServerBench -- --manifest M.jsonl [--model DIR] [--batch-size 8]
//       [--batch-ms 20] [--item-ms 5] [--clients 4] [--requests 20] [--items 4] [--mode json|multipart|path --image-root DIR]
//       [--rounds 1] [--monitor-pixel-share 0.1]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Modeling;
using HpsSharp.Server;

var opts = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 0; i + 1 < args.Length; i += 2)
{
    opts[args[i].TrimStart('-')] = args[i + 1];
}

string Opt(string name, string fallback) => opts.TryGetValue(name, out var v) ? v : fallback;
int batchSize = int.Parse(Opt("batch-size", "8"), CultureInfo.InvariantCulture);
double batchMs = double.Parse(Opt("batch-ms", "20"), CultureInfo.InvariantCulture);
double itemMs = double.Parse(Opt("item-ms", "5"), CultureInfo.InvariantCulture);
int clients = int.Parse(Opt("clients", "4"), CultureInfo.InvariantCulture);
int requests = int.Parse(Opt("requests", "20"), CultureInfo.InvariantCulture);
int items = int.Parse(Opt("items", "4"), CultureInfo.InvariantCulture);
string manifest = Path.GetFullPath(Opt("manifest", "manifest.jsonl"));
string repo = Path.GetFullPath(Opt("repo", "."));

IScorer scorer = opts.TryGetValue("model", out var modelDir)
    ? HpsScorer.Load(modelDir, new HpsScorerOptions(Precisions.Parse(Opt("dtype", "bf16")), DeviceSpec.Cpu, batchSize, TokenizerDir: opts.GetValueOrDefault("tokenizer")))
    : new SimulatedScorer(batchMs, itemMs);
int rounds = int.Parse(Opt("rounds", "1"), CultureInfo.InvariantCulture);
Console.WriteLine($"scorer: {scorer.Model.Describe()}");
if (opts.ContainsKey("serve"))
{
    // Only serve (for profiling with other clients) until stdin closes.
    await using var only = RewardService.Build(scorer, new RewardServiceOptions { Urls = [opts["serve"]], MaxBatchSize = batchSize }, l => { });
    await only.StartAsync();
    Console.WriteLine("Now listening on: " + only.Addresses()[0]);
    await Console.In.ReadToEndAsync();
    return 0;
}

var inputs = ScoreInputs.FromManifest(manifest);

// Offline: the same number of items as the load test, in batches of the micro-batch size, one caller.
int total = clients * requests * items;
var offlineRequests = Enumerable.Range(0, total).Select(i => inputs[i % inputs.Count]).ToList();
// CPU time of this process (scorer, service, monitors): a ratio of CPU per item does not depend on how much of the
// machine other processes take, which the wall-time ratio does on a shared, oversubscribed machine.
var self = Process.GetCurrentProcess();
double CpuSeconds()
{
    self.Refresh();
    return self.TotalProcessorTime.TotalSeconds;
}

double offlineCpu = 0;
async Task<double> OfflineAsync()
{
    double cpu0 = CpuSeconds();
    var sw = Stopwatch.StartNew();
    if (scorer is SimulatedScorer)
    {
        for (int i = 0; i < total; i += batchSize)
        {
            await scorer.ScoreAsync(offlineRequests.GetRange(i, Math.Min(batchSize, total - i)));
        }
    }
    else
    {
        await scorer.ScoreAsync(offlineRequests); // exactly what `hps score` does with its request list
    }

    double rate = total / sw.Elapsed.TotalSeconds;
    offlineCpu = CpuSeconds() - cpu0;
    return rate;
}

await scorer.ScoreAsync(inputs.Take(Math.Min(batchSize, inputs.Count)).ToList()); // warm-up (JIT, allocator)

// The reference scores in `hps score --json` shape, for loadtest.py's correctness check.
var reference = Path.GetTempFileName();
var refResults = (await scorer.ScoreAsync(inputs)).Select(r => new Dictionary<string, object>
{
    ["image"] = r.Request.Image.Path!, ["prompt"] = r.Request.Prompt, ["mu"] = r.Score!.Value.Mu,
});
File.WriteAllText(reference, JsonSerializer.Serialize(new Dictionary<string, object> { ["results"] = refResults }));

string mode = Opt("mode", "json");
string? imageRoot = mode == "path" ? Path.GetFullPath(opts["image-root"]) : null;
var options = new RewardServiceOptions
{
    Urls = ["http://127.0.0.1:0"], MaxBatchSize = batchSize, MaxWaitMs = int.Parse(Opt("max-wait-ms", "5"), CultureInfo.InvariantCulture), ImageRoot = imageRoot,

    // --monitor-pixel-share 1 decodes every scored image again for the saturation monitor (the behaviour before sampling).
    Monitor = opts.TryGetValue("monitor-pixel-share", out var mps) ? new MonitorOptions { PixelSampleShare = double.Parse(mps, CultureInfo.InvariantCulture) } : new MonitorOptions(),
};
await using var app = RewardService.Build(scorer, options, l => { });
await app.StartAsync();
var ratios = new List<double>();
var cpuRatios = new List<double>();
var monitor = app.Services.GetService(typeof(HpsSharp.Server.Monitoring.RewardMonitor)) as HpsSharp.Server.Monitoring.RewardMonitor;
for (int round = 1; round <= rounds; round++)
{
double offlineRate = await OfflineAsync();
var summaryPath = Path.GetTempFileName();
var psi = new ProcessStartInfo("python3",
[
    Path.Combine(repo, "benchmarks", "server", "loadtest.py"), "--url", app.Addresses()[0], "--manifest", manifest,
    "--reference", reference, "--clients", clients.ToString(CultureInfo.InvariantCulture),
    "--requests", requests.ToString(CultureInfo.InvariantCulture), "--items", items.ToString(CultureInfo.InvariantCulture),
    "--atol", scorer is SimulatedScorer ? "0" : Opt("atol", "0.01"), "--out", summaryPath, "--mode", mode, .. (imageRoot is null ? Array.Empty<string>() : ["--image-root", imageRoot]),
]) { UseShellExecute = false };
double serviceCpu0 = CpuSeconds();
using (var p = Process.Start(psi)!)
{
    await p.WaitForExitAsync();
    if (p.ExitCode != 0)
    {
        Console.Error.WriteLine($"loadtest.py failed with exit code {p.ExitCode}");
        return 1;
    }
}

// The monitors' pixel work is the service's too: let it finish before reading the CPU time.
if (monitor is not null)
{
    await monitor.FlushAsync();
}

double serviceCpu = CpuSeconds() - serviceCpu0;
using var summary = JsonDocument.Parse(File.ReadAllText(summaryPath));
double serviceRate = summary.RootElement.GetProperty("items_per_second").GetDouble();
double scoredItems = summary.RootElement.GetProperty("items_scored").GetDouble();
double clientCpu = summary.RootElement.TryGetProperty("client_cpu_seconds", out var cc) ? cc.GetDouble() : 0;
ratios.Add(serviceRate / offlineRate);
double offlineMs = 1000 * offlineCpu / total, serverMs = 1000 * serviceCpu / scoredItems, clientMs = 1000 * clientCpu / scoredItems;
cpuRatios.Add(offlineMs / (serverMs + clientMs));
string what = scorer is SimulatedScorer ? $"simulated scorer {batchMs} ms/batch + {itemMs} ms/item" : scorer.Model.Name;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"[{mode}] round {round}: {what}, batch size {batchSize}: offline {offlineRate:F2} items/s, service {serviceRate:F2} items/s, ratio {serviceRate / offlineRate:F3}"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"[{mode}] round {round}: CPU per item: offline {offlineMs:F1} ms, service {serverMs:F1} ms + client {clientMs:F1} ms, CPU ratio {cpuRatios[^1]:F3}; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
File.Delete(summaryPath);
}

await app.StopAsync();
ratios.Sort();
cpuRatios.Sort();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median ratio {ratios[ratios.Count / 2]:F3} over {ratios.Count} round(s) (per round: {string.Join(", ", ratios.Select(r => r.ToString("F3", CultureInfo.InvariantCulture)))}, sorted)"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median CPU ratio {cpuRatios[cpuRatios.Count / 2]:F3} (offline CPU per item / service + client CPU per item)"));
File.Delete(reference);
scorer.Dispose();
return 0;

/// <summary>Spins the CPU for a fixed plus per-item time per call; μ from SHA-256 of prompt and image bytes.</summary>
internal sealed class SimulatedScorer(double batchMs, double itemMs) : IScorer
{
    public ModelInfo Model { get; } = new("simulated scorer", "simulated", false, "fp32", 200704, 200704);

    public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var results = requests.Select(r =>
        {
            var bytes = r.Image.Path is not null ? File.ReadAllBytes(r.Image.Path) : (r.Image.Bytes ?? r.Image.Rgb)!.Value.ToArray();
            var h = SHA256.HashData([.. Encoding.UTF8.GetBytes(r.Prompt), .. bytes]);
            return ScoreResult.Success(r, new Score((BitConverter.ToUInt32(h, 0) / (double)uint.MaxValue * 10) - 5, 0));
        }).ToArray();
        var until = Stopwatch.GetTimestamp() + (long)((batchMs + (itemMs * requests.Count)) / 1000 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until)
        {
            Thread.SpinWait(50);
        }

        return Task.FromResult<IReadOnlyList<ScoreResult>>(results);
    }

    public void Dispose()
    {
    }
}
