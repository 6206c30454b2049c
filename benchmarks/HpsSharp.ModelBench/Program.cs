// End-to-end HPSv3 model benchmark on CPU (issue #3 items 5 and 7). For one model size per process (so that the peak
// RSS belongs to that model alone) it
//   1. writes (once; reused when the header matches) a random-weight checkpoint in the real shapes with config.json,
//   2. loads it memory-mapped through HpsScorer (bf16) and scores a real image + HPSv3 prompt at batch 1:
//      warm-up, then N timed runs → seconds per image (decode + preprocessing + tokenisation + forward) and tokens/s,
//   3. samples peak memory (/proc/self/status VmHWM, RssAnon, RssFile; mmapped weight pages count in RSS),
//   4. measures the bf16 matmul FLOP/s libtorch reaches here ([830,3584]×[3584,18944]) before and after the model
//      runs (the ceiling) and reports the forward's analytic FLOPs / forward time as a fraction of it.
// Usage:
//   dotnet run -c Release --project benchmarks/HpsSharp.ModelBench -- tiny|2b|7b [--dir DIR] [--runs N] [--image PATH] [--delete]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Text;
using HpsSharp.ModelBench;
using HpsSharp.Modeling;
using static TorchSharp.torch;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args.Length < 1 || args[0] is not ("tiny" or "2b" or "7b"))
{
    Console.Error.WriteLine("usage: HpsSharp.ModelBench tiny|2b|7b [--dir DIR] [--runs N] [--image PATH] [--delete]");
    return 2;
}

string size = args[0];
string? dirArg = null;
string? imageArg = null;
int runs = size == "tiny" ? 20 : 2;
bool delete = false;
for (int i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--dir": dirArg = args[++i]; break;
        case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--image": imageArg = args[++i]; break;
        case "--delete": delete = true; break;
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
    }
}

var assets = Paths.Find("HPS_ASSETS", "assets");
var tokenizerDir = Path.Combine(assets, "qwen2-vl-tokenizer");
var imagePath = imageArg ?? Path.Combine(assets, "images", "astronaut.png");
var prompts = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(assets, "images", "prompts.json")))!;
var prompt = prompts.TryGetValue(Path.GetFileName(imagePath), out var p) ? p : "a photograph";

Console.WriteLine($"model {size}; {Environment.ProcessorCount} logical CPUs, libtorch threads {get_num_threads()}; {Machine.CpuModel()}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
Console.WriteLine($"load average at start: {Machine.LoadAverage()}");

string modelDir;
if (size == "tiny")
{
    modelDir = Path.Combine(Paths.Find("HPS_FIXTURES", "fixtures"), "hpsv3-tiny");
}
else
{
    modelDir = dirArg ?? Path.Combine(Path.GetTempPath(), $"hps-bench-{size}");
    var spec = size == "7b" ? CheckpointSpec.Released7B : CheckpointSpec.Qwen2VL2B;
    RandomCheckpoint.Ensure(modelDir, spec);
}

var config = Qwen2VLConfig.Load(Path.Combine(modelDir, "config.json"));

// Inputs: the real image through the real preprocessor and the real prompt through the tokenizer.
var image = ImageInput.FromPath(imagePath);
var processor = new Qwen2VLImageProcessor();
var tokenizer = Qwen2Tokenizer.FromDirectory(tokenizerDir);
var prepWatch = Stopwatch.StartNew();
ProcessedImage processed = processor.Process(image);
var promptTokens = Hpsv3Prompt.Build(tokenizer, prompt, processed.MergedTokens);
double prepSeconds = prepWatch.Elapsed.TotalSeconds;
prepWatch.Restart();
for (int i = 0; i < 5; i++)
{
    processed = processor.Process(image);
    promptTokens = Hpsv3Prompt.Build(tokenizer, prompt, processed.MergedTokens);
}

prepSeconds = prepWatch.Elapsed.TotalSeconds / 5;
int tokens = promptTokens.InputIds.Length;
Console.WriteLine($"input: {Path.GetFileName(imagePath)} → grid {processed.GridT}×{processed.GridH}×{processed.GridW} ({processed.Rows} patches, {processed.MergedTokens} image tokens), sequence {tokens} tokens; decode+preprocess+tokenise {prepSeconds * 1000:F0} ms");

var flops = Flops.Forward(config, tokens, processed.Rows, processed.GridH * processed.GridW / 4);
Console.WriteLine($"analytic forward FLOPs: {flops.Total / 1e9:F1} G (decoder linear {flops.DecoderLinear / 1e9:F1} G, decoder attention {flops.DecoderAttention / 1e9:F1} G, vision linear {flops.VisionLinear / 1e9:F1} G, vision attention {flops.VisionAttention / 1e9:F1} G, merger {flops.Merger / 1e9:F1} G)");

// The bf16 matmul FLOP/s libtorch reaches here on the decoder's up projection, [830, 3584]×[3584, 18944].
static double DecoderCeiling() => Ceiling.Measure(830, 3584, 18944, ScalarType.BFloat16, repeats: 5);
var ceilingBefore = DecoderCeiling();
Console.WriteLine($"bf16 matmul ceiling (before): {ceilingBefore / 1e9:F0} GFLOP/s");

var sampler = new MemorySampler();
sampler.Start();
var loadWatch = Stopwatch.StartNew();
var scorer = HpsScorer.Load(modelDir, new HpsScorerOptions(Dtype: Precision.Bf16, BatchSize: 1, TokenizerDir: tokenizerDir));
Console.WriteLine($"loaded in {loadWatch.Elapsed.TotalSeconds:F1} s ({scorer.Network.ZeroCopyParameters} of {scorer.Network.parameters().Count()} parameters zero-copy): {MemorySampler.Read()}");

var request = new ScoreRequest(prompt, ImageInput.FromPath(imagePath));
var warm = Stopwatch.StartNew();
var first = (await scorer.ScoreAsync([request]))[0];
if (first.Score is null)
{
    Console.Error.WriteLine($"scoring failed: {first.Error}");
    return 1;
}

Console.WriteLine($"warm-up: {warm.Elapsed.TotalSeconds:F2} s, mu {first.Score.Value.Mu:F4}, sigma {first.Score.Value.Sigma:F4}: {MemorySampler.Read()}, load {Machine.LoadAverage()}");
var times = new List<double>();
for (int r = 0; r < runs; r++)
{
    var w = Stopwatch.StartNew();
    var result = (await scorer.ScoreAsync([request]))[0];
    times.Add(w.Elapsed.TotalSeconds);
    if (runs <= 5)
    {
        Console.WriteLine($"run {r + 1}: {times[^1]:F2} s, mu {result.Score?.Mu:F4}: {MemorySampler.Read()}, load {Machine.LoadAverage()}");
    }
}

sampler.Stop();
scorer.Dispose();
var ceilingAfter = DecoderCeiling();
Console.WriteLine($"bf16 matmul ceiling (after): {ceilingAfter / 1e9:F0} GFLOP/s");

times.Sort();
double median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[(times.Count / 2) - 1] + times[times.Count / 2]) / 2;
double best = times[0];
double forward = Math.Max(median - prepSeconds, 1e-9);
double ceiling = (ceilingBefore + ceilingAfter) / 2;
double achieved = flops.Total / forward;
Console.WriteLine();
Console.WriteLine($"RESULT {size}: {median:F3} s/image end to end (median of {runs}; best {best:F3}), {tokens / median:F1} tokens/s end to end");
Console.WriteLine($"RESULT {size}: forward ≈ {forward:F3} s (median − {prepSeconds:F3} s preprocessing) → {achieved / 1e9:F1} GFLOP/s achieved = {achieved / ceiling:P1} of the {ceiling / 1e9:F0} GFLOP/s bf16 matmul ceiling (mean of before/after)");
Console.WriteLine($"RESULT {size}: peak memory VmHWM {MemorySampler.Field("VmHWM") / 1e6:F2} GB (incl. mmapped weight pages), max RssAnon {sampler.MaxAnon / 1e6:F2} GB, max RssFile {sampler.MaxFile / 1e6:F2} GB");
Console.WriteLine($"load average at end: {Machine.LoadAverage()}");

if (delete && size != "tiny")
{
    // Only the two files written here; the folder goes too when nothing else is left in it.
    File.Delete(Path.Combine(modelDir, "model.safetensors"));
    File.Delete(Path.Combine(modelDir, "config.json"));
    if (!Directory.EnumerateFileSystemEntries(modelDir).Any())
    {
        Directory.Delete(modelDir);
    }

    Console.WriteLine($"deleted the checkpoint in {modelDir}");
}

return 0;
