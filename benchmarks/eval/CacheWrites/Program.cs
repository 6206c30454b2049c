using System.Diagnostics;
using System.Text.Json;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using HpsSharp.Evaluation;

// Usage: dotnet run -c Release --project benchmarks/eval/CacheWrites -- [PAIRS] [BATCH] [DIGEST_MB]
// 1. The score cache written after every batch (what ModelScoreSource does now) against once per chunk of 256 pairs
//    (before), with a scorer that costs nothing, so the difference is the cache's own cost; both modes alternate in
//    one run over fresh cache files. 2. The weight digest: SHA-256 of a DIGEST_MB file, then the memo hit.
int pairs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 4096;
int batch = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 4;
int digestMb = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1024;
string dir = Path.Combine(Path.GetTempPath(), "hps-cachewrites-" + Environment.ProcessId);
Directory.CreateDirectory(Path.Combine(dir, "images"));
try
{
    var records = new List<object>();
    for (int i = 0; i < pairs; i++)
    {
        File.WriteAllText(Path.Combine(dir, "images", $"{i}a.png"), $"a{i}");
        File.WriteAllText(Path.Combine(dir, "images", $"{i}b.png"), $"b{i}");
        records.Add(new { prompt = $"prompt {i}", path1 = $"images/{i}a.png", path2 = $"images/{i}b.png" });
    }

    string data = Path.Combine(dir, "test.json");
    File.WriteAllText(data, JsonSerializer.Serialize(records));
    using var self = Process.GetCurrentProcess();
    var times = new Dictionary<bool, List<(double Wall, double Cpu)>> { [true] = [], [false] = [] };
    for (int round = 0; round < 4; round++)
    {
        foreach (bool perBatch in round % 2 == 0 ? new[] { true, false } : new[] { false, true })
        {
            string cachePath = Path.Combine(dir, $"cache-{round}-{perBatch}.sqlite");
            using var cache = new ScoreCache(cachePath);
            using var scorer = new BatchScorer(batch, perBatch);
            self.Refresh();
            var cpu = self.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            await Evaluator.RunAsync(EvalDataset.Open(data), new ModelScoreSource(scorer, cache, dir), new EvalOptions { BootstrapResamples = 0 });
            sw.Stop();
            self.Refresh();
            if (cache.Count != 2L * pairs)
            {
                throw new InvalidOperationException($"cache has {cache.Count} scores, expected {2 * pairs}");
            }

            if (round > 0)
            {
                times[perBatch].Add((sw.Elapsed.TotalSeconds, (self.TotalProcessorTime - cpu).TotalSeconds));
            }
        }
    }

    double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a[a.Length / 2];
    }

    int images = 2 * pairs;
    foreach (var (perBatch, label) in new[] { (false, "one write per 256-pair chunk (before)"), (true, $"one write per batch of {batch} (now)") })
    {
        Console.WriteLine($"{label}: {images} images, median {Median(times[perBatch].Select(t => t.Wall)):F3} s wall, {Median(times[perBatch].Select(t => t.Cpu)):F3} s CPU ({1e6 * Median(times[perBatch].Select(t => t.Wall)) / images:F0} µs/image wall)");
    }

    double extra = (Median(times[true].Select(t => t.Wall)) - Median(times[false].Select(t => t.Wall))) / (images / (double)batch);
    Console.WriteLine($"ratio per-batch/per-chunk (wall, whole eval with a free scorer): {Median(times[true].Select(t => t.Wall)) / Median(times[false].Select(t => t.Wall)):F2}");
    Console.WriteLine($"extra cost per batch: {extra * 1e3:F3} ms");

    // The digest: one pass over the bytes, then answered from the memo.
    string weights = Path.Combine(dir, "weights.bin");
    using (var fs = File.Create(weights))
    {
        var block = new byte[1 << 20];
        new Random(1).NextBytes(block);
        for (int i = 0; i < digestMb; i++)
        {
            fs.Write(block);
        }
    }

    string memo = Path.Combine(dir, "memo.json");
    var watch = Stopwatch.StartNew();
    WeightDigest.Sha256(weights, memo);
    double first = watch.Elapsed.TotalSeconds;
    watch.Restart();
    WeightDigest.Sha256(weights, memo);
    Console.WriteLine($"weight digest of {digestMb} MiB: {first:F2} s ({digestMb / first:F0} MiB/s); memo hit: {watch.Elapsed.TotalMilliseconds:F2} ms");
    Console.WriteLine($"{Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
}
finally
{
    Directory.Delete(dir, recursive: true);
}

/// <summary>Scores nothing (μ from the name's length), in batches, reporting each batch as finished or not at all.</summary>
internal sealed class BatchScorer(int batch, bool reportBatches) : IScorer
{
    public ModelInfo Model { get; } = new("bench scorer", "bench", false, "fp32", 200704, 200704);

    public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var results = new ScoreResult[requests.Count];
        for (int start = 0; start < requests.Count; start += batch)
        {
            int n = Math.Min(batch, requests.Count - start);
            for (int k = start; k < start + n; k++)
            {
                results[k] = ScoreResult.Success(requests[k], new Score(requests[k].Image.Name.Length + (k % 7), 0));
            }

            progress?.Report(new ScoreProgress(start + n, requests.Count) { Finished = reportBatches ? results[start..(start + n)] : null });
        }

        return Task.FromResult<IReadOnlyList<ScoreResult>>(results);
    }

    public void Dispose()
    {
    }
}
