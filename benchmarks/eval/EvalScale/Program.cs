using System.Diagnostics;
using HpsSharp.Core.Metrics;
using HpsSharp.Evaluation;

// Usage: dotnet run -c Release -- DIR   (DIR from benchmarks/eval/make_1m.py: all.json + scores.jsonl)
// Prints wall time and process CPU time per phase (CPU time is the fairer number on a shared machine).
string dir = args.Length > 0 ? args[0] : "/tmp/hps-1m";
using var self = Process.GetCurrentProcess();
var total = Stopwatch.StartNew();

Phase("read the HPDv3 file only (Hpdv3PairReader)", () => HpsSharp.Core.Data.Hpdv3PairReader.Read(Path.Combine(dir, "all.json")).Count());
var scores = Phase("load scores file", () => ScoresFileSource.Load(Path.Combine(dir, "scores.jsonl")));
Console.WriteLine($"  {scores.Count:N0} entries, working set {Environment.WorkingSet / 1e6:F0} MB");
var result = Phase("evaluate without bootstrap (stream pairs, look up, classify, reliability, dataset sha256)", () =>
    Evaluator.RunAsync(EvalDataset.Open(Path.Combine(dir, "all.json")), scores, new EvalOptions { BootstrapResamples = 0 }).GetAwaiter().GetResult());
Console.WriteLine($"  accuracy {Reports.Percent(result.Accuracy)} over {result.Pairs:N0} pairs ({result.Protocol.Records:N0} records)");
var codes = new byte[result.ScoredPairs];
var rng = new Random(1);
for (int i = 0; i < codes.Length; i++)
{
    codes[i] = (byte)(rng.NextDouble() < result.Accuracy ? 0 : 1);
}

var ci = Phase($"bootstrap, 1000 resamples of {codes.Length:N0} pairs", () => Bootstrap.Coded(codes, [(1, 1), (0, 1)], 1000, 0));
Console.WriteLine($"  [{ci.Low:F4}, {ci.High:F4}]");
Phase("reports + plots", () => Reports.Write(result, Path.Combine(dir, "report")));
self.Refresh();
Console.WriteLine($"total {total.Elapsed.TotalSeconds:F1} s wall, {self.TotalProcessorTime.TotalSeconds:F1} s CPU; peak working set {self.PeakWorkingSet64 / 1e6:F0} MB; {Environment.ProcessorCount} cores");

T Phase<T>(string name, Func<T> work)
{
    self.Refresh();
    var cpu = self.TotalProcessorTime;
    var sw = Stopwatch.StartNew();
    var r = work();
    self.Refresh();
    Console.WriteLine($"{name}: {sw.Elapsed.TotalSeconds:F2} s wall, {(self.TotalProcessorTime - cpu).TotalSeconds:F2} s CPU");
    return r;
}
