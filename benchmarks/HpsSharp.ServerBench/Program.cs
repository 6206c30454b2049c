// Measures what the reward service costs on top of its scorer. A simulated scorer burns (batch-ms + item-ms * n) of
// CPU per call, like a model whose batch has a fixed and a per-item cost; "offline" calls it directly in batches of
// the same size over the same number of items, "service" drives it through `RewardService` with loadtest.py.
// This is NOT the service/offline ratio of the real model (that needs `hps serve` vs `hps score` with HpsScorer).
//
//   dotnet run -c Release --project benchmarks/HpsSharp.ServerBench -- --manifest M.jsonl [--batch-size 8]
//       [--batch-ms 20] [--item-ms 5] [--clients 4] [--requests 20] [--items 4] [--mode json|multipart|path --image-root DIR]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HpsSharp.Core.Scoring;
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

var scorer = new SimulatedScorer(batchMs, itemMs);
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
var sw = Stopwatch.StartNew();
for (int i = 0; i < total; i += batchSize)
{
    await scorer.ScoreAsync(offlineRequests.GetRange(i, Math.Min(batchSize, total - i)));
}

double offlineRate = total / sw.Elapsed.TotalSeconds;

// The reference scores in `hps score --json` shape, for loadtest.py's correctness check.
var reference = Path.GetTempFileName();
var refResults = (await new SimulatedScorer(0, 0).ScoreAsync(inputs)).Select(r => new Dictionary<string, object>
{
    ["image"] = r.Request.Image.Path!, ["prompt"] = r.Request.Prompt, ["mu"] = r.Score!.Value.Mu,
});
File.WriteAllText(reference, JsonSerializer.Serialize(new Dictionary<string, object> { ["results"] = refResults }));

string mode = Opt("mode", "json");
string? imageRoot = mode == "path" ? Path.GetFullPath(opts["image-root"]) : null;
var options = new RewardServiceOptions
{
    Urls = ["http://127.0.0.1:0"], MaxBatchSize = batchSize, MaxWaitMs = int.Parse(Opt("max-wait-ms", "5"), CultureInfo.InvariantCulture), ImageRoot = imageRoot,
};
await using var app = RewardService.Build(scorer, options, l => { });
await app.StartAsync();
var summaryPath = Path.GetTempFileName();
var psi = new ProcessStartInfo("python3",
[
    Path.Combine(repo, "benchmarks", "server", "loadtest.py"), "--url", app.Addresses()[0], "--manifest", manifest,
    "--reference", reference, "--clients", clients.ToString(CultureInfo.InvariantCulture),
    "--requests", requests.ToString(CultureInfo.InvariantCulture), "--items", items.ToString(CultureInfo.InvariantCulture),
    "--atol", "0", "--out", summaryPath, "--mode", mode, .. (imageRoot is null ? Array.Empty<string>() : ["--image-root", imageRoot]),
]) { UseShellExecute = false };
using (var p = Process.Start(psi)!)
{
    await p.WaitForExitAsync();
    if (p.ExitCode != 0)
    {
        Console.Error.WriteLine($"loadtest.py failed with exit code {p.ExitCode}");
        return 1;
    }
}

await app.StopAsync();
using var summary = JsonDocument.Parse(File.ReadAllText(summaryPath));
double serviceRate = summary.RootElement.GetProperty("items_per_second").GetDouble();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"[{mode}] simulated scorer {batchMs} ms/batch + {itemMs} ms/item, batch size {batchSize}: offline {offlineRate:F1} items/s, service {serviceRate:F1} items/s, ratio {serviceRate / offlineRate:F3}"));
File.Delete(reference);
File.Delete(summaryPath);
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
