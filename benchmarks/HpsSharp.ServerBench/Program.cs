// Service vs offline throughput in one process, so both see the same machine load. "Offline" is what `hps score`
// does after loading: one ScoreAsync over all items (the scorer batches them by --batch-size). "Service" is the same
// scorer behind RewardService, driven over HTTP by loadtest.py (which also checks every answer against offline's).
// The scorer is the real HpsScorer with --model DIR [--tokenizer DIR] [--dtype bf16|fp32], or else a simulated one
// that burns (batch-ms + item-ms * n) of CPU per call (service overhead only; NOT the real-model ratio).
//
//   dotnet run -c Release --project benchmarks/HpsSharp.ServerBench -- --manifest M.jsonl [--model DIR] [--batch-size 8]
//       [--batch-ms 20] [--item-ms 5] [--clients 4] [--requests 20] [--items 4] [--mode json|multipart|path --image-root DIR]
//       [--rounds 1]
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
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
    ? HpsScorer.Load(modelDir, new HpsScorerOptions(Opt("dtype", "bf16"), "cpu", batchSize, TokenizerDir: opts.GetValueOrDefault("tokenizer")))
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
async Task<double> OfflineAsync()
{
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

    return total / sw.Elapsed.TotalSeconds;
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
};
await using var app = RewardService.Build(scorer, options, l => { });
await app.StartAsync();
var ratios = new List<double>();
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
using (var p = Process.Start(psi)!)
{
    await p.WaitForExitAsync();
    if (p.ExitCode != 0)
    {
        Console.Error.WriteLine($"loadtest.py failed with exit code {p.ExitCode}");
        return 1;
    }
}

using var summary = JsonDocument.Parse(File.ReadAllText(summaryPath));
double serviceRate = summary.RootElement.GetProperty("items_per_second").GetDouble();
ratios.Add(serviceRate / offlineRate);
string what = scorer is SimulatedScorer ? $"simulated scorer {batchMs} ms/batch + {itemMs} ms/item" : scorer.Model.Name;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"[{mode}] round {round}: {what}, batch size {batchSize}: offline {offlineRate:F2} items/s, service {serviceRate:F2} items/s, ratio {serviceRate / offlineRate:F3}"));
File.Delete(summaryPath);
}

await app.StopAsync();
ratios.Sort();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median ratio {ratios[ratios.Count / 2]:F3} over {ratios.Count} round(s)"));
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
