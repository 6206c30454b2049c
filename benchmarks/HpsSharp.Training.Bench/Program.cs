// Training-step throughput and peak memory of hps train on CPU: random weights (bf16 backbone, fp32 head), real
// pipeline (HPSv3 prompt, Qwen2-VL preprocessing of sample photos, uncertainty loss, AdamW with fp32 masters).
// Usage:
//   dotnet run -c Release --project benchmarks/HpsSharp.Training.Bench -- SHAPE [steps=4] [batch=2] [pixels=200704] [layers] [blocks] [freeze]
//   SHAPE: tiny (the hpsv3-tiny config) or 2b (Qwen2-VL-2B widths); layers/blocks override the depth (for shapes
//   too large to train whole here); freeze: none | head-only.
// Prints per-step seconds, pairs/s (steps after the first) and VmHWM (peak resident memory).
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Training;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;

string shape = args.Length > 0 ? args[0] : "tiny";
int steps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
int batch = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
int pixels = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 200704;
int? layers = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : null;
int? blocks = args.Length > 5 ? int.Parse(args[5], CultureInfo.InvariantCulture) : null;
string freeze = args.Length > 6 ? args[6] : "none";

var shared = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared"));
var assets = Environment.GetEnvironmentVariable("HPS_ASSETS") ?? Path.Combine(shared, "assets");
var fixtures = Environment.GetEnvironmentVariable("HPS_FIXTURES") ?? Path.Combine(shared, "fixtures");
var work = Path.Combine(Path.GetTempPath(), "hps-train-bench-" + Environment.ProcessId);
Directory.CreateDirectory(work);
try
{
    var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "hpsv3-tiny", "config.json"))).RootElement;
    var config = JsonSerializer.Deserialize<Dictionary<string, object>>(cfg.GetRawText())!;
    if (shape == "2b")
    {
        config["hidden_size"] = 1536;
        config["num_hidden_layers"] = layers ?? 28;
        config["num_attention_heads"] = 12;
        config["num_key_value_heads"] = 2;
        config["intermediate_size"] = 8960;
        config["rope_scaling"] = new Dictionary<string, object> { ["type"] = "mrope", ["mrope_section"] = new[] { 16, 24, 24 } };
        config["vision_config"] = new Dictionary<string, object> { ["depth"] = blocks ?? 32, ["embed_dim"] = 1280, ["num_heads"] = 16, ["mlp_ratio"] = 4, ["hidden_size"] = 1536, ["in_chans"] = 3, ["patch_size"] = 14, ["spatial_merge_size"] = 2, ["temporal_patch_size"] = 2 };
    }

    var modelDir = Path.Combine(work, "model");
    Directory.CreateDirectory(modelDir);
    File.WriteAllText(Path.Combine(modelDir, "config.json"), JsonSerializer.Serialize(config));
    var photos = new[] { "chelsea.png", "rocket.jpg", "coffee.png", "astronaut.png" };
    var lines = Enumerable.Range(0, batch * steps).Select(i => JsonSerializer.Serialize(new
    {
        prompt = "a photograph of something interesting on a sunny day",
        path1 = Path.Combine(assets, "images", photos[i % 4]),
        path2 = Path.Combine(assets, "images", photos[(i + 1) % 4]),
    }));
    var data = Path.Combine(work, "pairs.jsonl");
    File.WriteAllLines(data, lines);

    var o = new TrainingOptions
    {
        Model = modelDir, RandomInit = true, Data = data, Format = "jsonl", Out = Path.Combine(work, "out"), Dtype = "bf16",
        Epochs = 1, BatchSize = batch, GradAccum = 1, LearningRate = 1e-5, WarmupRatio = 0, MinPixels = pixels, MaxPixels = pixels,
        Tokenizer = Path.Combine(assets, "qwen2-vl-tokenizer"), SaveEvery = 1_000_000, HeadOnly = freeze == "head-only",
        TrainRewardToken = freeze != "head-only",
    };
    var build = Stopwatch.StartNew();
    using var model = Hpsv3Trainable.Open(modelDir, o.Dtype, o.Device, true, 1, o.Tokenizer);
    long parameters = model.Model.parameters().Sum(p => p.numel());
    Console.WriteLine($"{shape}: {parameters / 1e6:F1} M parameters, built in {build.Elapsed.TotalSeconds:F1} s; batch {batch} pairs, {pixels} px, freeze {freeze}, {Environment.ProcessorCount} CPUs");
    var collator = new Hpsv3PairCollator(Qwen2Tokenizer.FromDirectory(o.Tokenizer), new Qwen2VLImageProcessor(new ImageProcessorOptions(pixels, pixels)));
    var report = new DataReport();
    var pairs = PairDataset.Load(data, PairFormat.Jsonl, null, o.DataOptions, report);
    var trainer = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, collator, o with { SaveEvery = 0, MaxSteps = steps, SaveTotalLimit = 1 });
    var times = new List<double>();
    var clock = Stopwatch.StartNew();
    trainer.Run(new TrainingData(data, pairs, report), new StepReport(p =>
    {
        times.Add(clock.Elapsed.TotalSeconds);
        clock.Restart();
        Console.WriteLine($"  step {p.Step}: {times[^1]:F2} s, loss {p.Loss:F4}");
    }));
    var steady = times.Skip(1).DefaultIfEmpty(times[0]).Average();
    Console.WriteLine($"steady step {steady:F2} s → {batch / steady:F3} pairs/s; peak RSS {PeakRss()}");
}
finally
{
    Directory.Delete(work, recursive: true);
}

static string PeakRss() => File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";

internal sealed class StepReport(Action<TrainingProgress> a) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => a(value);
}
