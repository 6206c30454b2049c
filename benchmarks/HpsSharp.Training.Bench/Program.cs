// Training-step throughput and peak memory of hps train on CPU: random weights (bf16 backbone, fp32 head), real
// pipeline (HPSv3 prompt, Qwen2-VL preprocessing of sample photos, uncertainty loss, AdamW with fp32 masters).
// Usage:
//   dotnet run -c Release --project benchmarks/HpsSharp.Training.Bench -- SHAPE [steps=4] [batch=2] [pixels=200704] [layers] [blocks] [freeze]
//   SHAPE: tiny (the hpsv3-tiny config), 2b (Qwen2-VL-2B widths) or 7b (Qwen2-VL-7B widths); layers/blocks override
//   the depth (for shapes too large to train whole here; 0 = the shape's own); freeze: none | head-only.
//   Flags anywhere: --lora (LoRA r 16 / alpha 32 on every decoder Linear, HPSv3's defaults), --ckpt (gradient
//   checkpointing).
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

bool lora = args.Contains("--lora");
bool ckpt = args.Contains("--ckpt");
args = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
string shape = args.Length > 0 ? args[0] : "tiny";
int steps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
int batch = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
int pixels = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 200704;
int? layers = args.Length > 4 && args[4] != "0" ? int.Parse(args[4], CultureInfo.InvariantCulture) : null;
int? blocks = args.Length > 5 && args[5] != "0" ? int.Parse(args[5], CultureInfo.InvariantCulture) : null;
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
    else if (shape == "7b")
    {
        config["hidden_size"] = 3584;
        config["num_hidden_layers"] = layers ?? 28;
        config["num_attention_heads"] = 28;
        config["num_key_value_heads"] = 4;
        config["intermediate_size"] = 18944;
        config["rope_scaling"] = new Dictionary<string, object> { ["type"] = "mrope", ["mrope_section"] = new[] { 16, 24, 24 } };
        config["vision_config"] = new Dictionary<string, object> { ["depth"] = blocks ?? 32, ["embed_dim"] = 1280, ["num_heads"] = 16, ["mlp_ratio"] = 4, ["hidden_size"] = 3584, ["in_chans"] = 3, ["patch_size"] = 14, ["spatial_merge_size"] = 2, ["temporal_patch_size"] = 2 };
    }
    else if (shape != "tiny")
    {
        throw new ArgumentException($"unknown shape '{shape}' (tiny, 2b or 7b)");
    }

    var modelDir = Path.Combine(work, "model");
    Directory.CreateDirectory(modelDir);
    File.WriteAllText(Path.Combine(modelDir, "config.json"), JsonSerializer.Serialize(config));
    var photos = new[] { "chelsea.png", "rocket.jpg", "coffee.png", "astronaut.png" };
    var lines = Enumerable.Range(0, batch * steps).Select(i => JsonSerializer.Serialize(new
    {
        prompt = "a photograph of something interesting on a sunny day",
        path1 = photos[i % 4],
        path2 = photos[(i + 1) % 4],
    }));
    var data = Path.Combine(work, "pairs.jsonl");
    File.WriteAllLines(data, lines);

    var o = new TrainingOptions
    {
        Model = modelDir, RandomInit = true, Data = data, Format = HpsSharp.Training.Data.PairFormat.Jsonl, Out = Path.Combine(work, "out"), Dtype = HpsSharp.Core.Precision.Bf16,
        Epochs = 1, BatchSize = batch, GradAccum = 1, LearningRate = 1e-5, WarmupRatio = 0, MinPixels = pixels, MaxPixels = pixels,
        Tokenizer = Path.Combine(assets, "qwen2-vl-tokenizer"), SaveEvery = 1_000_000, HeadOnly = freeze == "head-only",
        TrainRewardToken = freeze != "head-only", Lora = lora, GradientCheckpointing = ckpt,
    };
    var build = Stopwatch.StartNew();
    using var model = Hpsv3Trainable.Open(modelDir, o.Dtype, o.Device, true, 1, o.Tokenizer);
    model.Model.GradientCheckpointing = ckpt;
    if (lora)
    {
        // Random base weights stand in for a checkpoint; --lora itself refuses --random-init (no base to refer to).
        model.Model.AttachLora(new HpsSharp.Modeling.Lora.LoraSettings(16, 32, 0.05, model.Model.ResolveLoraTargets("decoder")), 1);
        o = o with { RandomInit = false };
    }

    long parameters = model.Model.parameters().Sum(p => p.numel());
    long loraParameters = model.Model.named_parameters().Where(p => HpsSharp.Modeling.Lora.PeftAdapter.IsLoraParameter(p.name)).Sum(p => p.parameter.numel());
    Console.WriteLine($"{shape}: {parameters / 1e6:F1} M parameters ({loraParameters / 1e6:F2} M LoRA), built in {build.Elapsed.TotalSeconds:F1} s, RSS after build {Rss("VmRSS")}; batch {batch} pairs, {pixels} px, freeze {freeze}, lora {lora}, checkpointing {ckpt}, {Environment.ProcessorCount} CPUs");
    var collator = new Hpsv3PairCollator(Qwen2Tokenizer.FromDirectory(o.Tokenizer), new Qwen2VLImageProcessor(new ImageProcessorOptions(pixels, pixels)));
    var report = new DataReport();
    var pairs = PairDataset.Load(data, PairFormat.Jsonl, Path.Combine(assets, "images"), o.DataOptions, report);
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

static string PeakRss() => Rss("VmHWM");

static string Rss(string key) => File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";

internal sealed class StepReport(Action<TrainingProgress> a) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => a(value);
}
