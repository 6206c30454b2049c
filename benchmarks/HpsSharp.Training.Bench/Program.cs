// Training-step throughput and peak memory of hps train on CPU: random weights (bf16 backbone, fp32 head) written once
// to a safetensors file and loaded through the real loader (memory-mapped, as hps train does), the real pipeline (HPSv3
// prompt, Qwen2-VL preprocessing of sample photos, uncertainty loss, AdamW with fp32 masters).
// Usage:
//   dotnet run -c Release --project benchmarks/HpsSharp.Training.Bench -- SHAPE [steps=4] [batch=2] [pixels=200704] [layers] [blocks] [freeze]
//   SHAPE: tiny (the hpsv3-tiny config), 2b (Qwen2-VL-2B widths) or 7b (Qwen2-VL-7B widths); layers/blocks override
//   the depth (0 = the shape's own); freeze: none | head-only.
//   Flags anywhere: --lora (LoRA r 16 / alpha 32 / dropout 0.05 on every decoder Linear, HPSv3's defaults, through the
//   same TrainingOptions as hps train --lora), --ckpt (gradient checkpointing), --weights DIR (where the random
//   checkpoint is cached; default /tmp/hps-train-bench-weights; reused by later runs of the same shape and depth),
//   --delete-weights (remove this shape's cached checkpoint at the end).
// Prints per-step seconds, pairs/s (steps after the first) and memory: VmHWM (peak resident set of the whole process),
// and from a 20 ms sampler of /proc/self/status the peak anonymous memory (RssAnon: activations, gradients, optimizer
// state, everything that cannot be paged out) and the file-backed part (RssFile: the memory-mapped weights the kernel
// can drop and re-read) at the moment of the largest RSS, per phase (load, forward A, forward B, backward + update).
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Training;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using TorchSharp;
using static TorchSharp.torch;

bool lora = args.Contains("--lora");
bool ckpt = args.Contains("--ckpt");
bool deleteWeights = args.Contains("--delete-weights");
int wi = Array.IndexOf(args, "--weights");
string cacheRoot = wi >= 0 && wi + 1 < args.Length ? args[wi + 1] : Path.Combine(Path.GetTempPath(), "hps-train-bench-weights");
args = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && !(wi >= 0 && i == wi + 1)).ToArray();
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
var memory = new MemorySampler();
string? modelDir = null;
try
{
    var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "hpsv3-tiny", "config.json"))).RootElement;
    var config = JsonSerializer.Deserialize<Dictionary<string, object>>(cfg.GetRawText())!;
    int depth = cfg.GetProperty("num_hidden_layers").GetInt32(), vdepth = cfg.GetProperty("vision_config").GetProperty("depth").GetInt32();
    if (shape == "2b")
    {
        config["hidden_size"] = 1536;
        config["num_hidden_layers"] = depth = layers ?? 28;
        config["num_attention_heads"] = 12;
        config["num_key_value_heads"] = 2;
        config["intermediate_size"] = 8960;
        config["rope_scaling"] = new Dictionary<string, object> { ["type"] = "mrope", ["mrope_section"] = new[] { 16, 24, 24 } };
        config["vision_config"] = new Dictionary<string, object> { ["depth"] = vdepth = blocks ?? 32, ["embed_dim"] = 1280, ["num_heads"] = 16, ["mlp_ratio"] = 4, ["hidden_size"] = 1536, ["in_chans"] = 3, ["patch_size"] = 14, ["spatial_merge_size"] = 2, ["temporal_patch_size"] = 2 };
    }
    else if (shape == "7b")
    {
        config["hidden_size"] = 3584;
        config["num_hidden_layers"] = depth = layers ?? 28;
        config["num_attention_heads"] = 28;
        config["num_key_value_heads"] = 4;
        config["intermediate_size"] = 18944;
        config["rope_scaling"] = new Dictionary<string, object> { ["type"] = "mrope", ["mrope_section"] = new[] { 16, 24, 24 } };
        config["vision_config"] = new Dictionary<string, object> { ["depth"] = vdepth = blocks ?? 32, ["embed_dim"] = 1280, ["num_heads"] = 16, ["mlp_ratio"] = 4, ["hidden_size"] = 3584, ["in_chans"] = 3, ["patch_size"] = 14, ["spatial_merge_size"] = 2, ["temporal_patch_size"] = 2 };
    }
    else if (shape != "tiny")
    {
        throw new ArgumentException($"unknown shape '{shape}' (tiny, 2b or 7b)");
    }

    modelDir = Path.Combine(cacheRoot, $"{shape}-{depth}x{vdepth}");
    var build = Stopwatch.StartNew();
    bool wrote = RandomCheckpoint.Ensure(modelDir, JsonSerializer.Serialize(config));
    Console.WriteLine($"{(wrote ? "wrote" : "reused")} random bf16 checkpoint {modelDir} ({new FileInfo(Path.Combine(modelDir, "model.safetensors")).Length / 1e9:F2} GB) in {build.Elapsed.TotalSeconds:F1} s");

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
        Model = modelDir, Data = data, Format = HpsSharp.Training.Data.PairFormat.Jsonl, Out = Path.Combine(work, "out"), Dtype = HpsSharp.Core.Precision.Bf16,
        Epochs = 1, BatchSize = batch, GradAccum = 1, LearningRate = 1e-5, WarmupRatio = 0, MinPixels = pixels, MaxPixels = pixels,
        Tokenizer = Path.Combine(assets, "qwen2-vl-tokenizer"), SaveEvery = 1_000_000, HeadOnly = freeze == "head-only",
        TrainRewardToken = freeze != "head-only", Lora = lora, GradientCheckpointing = ckpt,
    };

    memory.Start("load");
    var load = Stopwatch.StartNew();
    using var model = Hpsv3Trainable.Open(o);
    long parameters = model.Model.parameters().Sum(p => p.numel());
    long loraParameters = model.Model.named_parameters().Where(p => HpsSharp.Modeling.Lora.PeftAdapter.IsLoraParameter(p.name)).Sum(p => p.parameter.numel());
    Console.WriteLine($"{shape} ({depth} layers + {vdepth} blocks): {parameters / 1e6:F1} M parameters ({loraParameters / 1e6:F2} M LoRA, {model.Model.ZeroCopyParameters} memory-mapped tensors), loaded in {load.Elapsed.TotalSeconds:F1} s, {MemorySampler.Now()} after load; batch {batch} pairs, {pixels} px, freeze {freeze}, lora {lora}, checkpointing {ckpt}, {Environment.ProcessorCount} CPUs, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    var collator = new Hpsv3PairCollator(Qwen2Tokenizer.FromDirectory(o.Tokenizer), new Qwen2VLImageProcessor(new ImageProcessorOptions(pixels, pixels)));
    var report = new DataReport();
    var pairs = PairDataset.Load(data, PairFormat.Jsonl, Path.Combine(assets, "images"), o.DataOptions, report);
    var probe = new PhasedModel(model, memory);
    var trainer = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(probe, collator, o with { SaveEvery = 0, MaxSteps = steps, SaveTotalLimit = 1 });
    var times = new List<double>();
    var clock = Stopwatch.StartNew();
    trainer.Run(new TrainingData(data, pairs, report), new StepReport(p =>
    {
        times.Add(clock.Elapsed.TotalSeconds);
        clock.Restart();
        probe.Sides = 0;
        Console.WriteLine($"  step {p.Step}: {times[^1]:F2} s, loss {p.Loss:F4}, {MemorySampler.Now()}");
    }));
    memory.Stop();
    var steady = times.Skip(1).DefaultIfEmpty(times[0]).Average();
    Console.WriteLine($"steady step {steady:F2} s → {batch / steady:F3} pairs/s; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    Console.WriteLine($"peak RSS (VmHWM) {MemorySampler.Read("VmHWM") / 1e9:F2} GB; sampled: {memory.Summary()}");
}
finally
{
    memory.Stop();
    Directory.Delete(work, recursive: true);
    if (deleteWeights && modelDir is not null && Directory.Exists(modelDir))
    {
        Directory.Delete(modelDir, recursive: true);
    }
}

internal sealed class StepReport(Action<TrainingProgress> a) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => a(value);
}

/// <summary>The trainable model with the memory sampler's phase set around each forward (A, then B, then backward + update).</summary>
internal sealed class PhasedModel(Hpsv3Trainable inner, MemorySampler memory) : ITrainableModel<HpsSharp.Modeling.Hpsv3Batch>
{
    public int Sides { get; set; }

    public nn.Module Module => inner.Module;

    public IReadOnlyList<long> RewardRows => inner.RewardRows;

    public Tensor Forward(HpsSharp.Modeling.Hpsv3Batch batch)
    {
        memory.Phase = Sides++ % 2 == 0 ? "forward A" : "forward B";
        var y = inner.Forward(batch);
        memory.Phase = Sides % 2 == 0 ? "backward+update" : "between";
        return y;
    }

    public void Save(string folder) => inner.Save(folder);

    public void LoadWeights(string folder) => inner.LoadWeights(folder);

    public void Dispose()
    {
    }
}

/// <summary>Samples VmRSS / RssAnon / RssFile every 20 ms and keeps the peaks per phase.</summary>
internal sealed class MemorySampler
{
    private readonly Dictionary<string, (long Anon, long Rss, long FileAtRss)> _peaks = [];
    private readonly List<string> _order = [];
    private Thread? _thread;
    private volatile bool _stop;

    public volatile string Phase = "load";

    public void Start(string phase)
    {
        Phase = phase;
        _thread = new Thread(() =>
        {
            while (!_stop)
            {
                Sample();
                Thread.Sleep(20);
            }
        }) { IsBackground = true };
        _thread.Start();
    }

    public void Stop()
    {
        _stop = true;
        _thread?.Join();
        _thread = null;
    }

    private void Sample()
    {
        var (rss, anon, file) = (Read("VmRSS"), Read("RssAnon"), Read("RssFile"));
        var phase = Phase;
        lock (_peaks)
        {
            if (!_peaks.TryGetValue(phase, out var p))
            {
                _order.Add(phase);
                p = (0, 0, 0);
            }

            _peaks[phase] = (Math.Max(p.Anon, anon), Math.Max(p.Rss, rss), rss > p.Rss ? file : p.FileAtRss);
        }
    }

    public string Summary()
    {
        lock (_peaks)
        {
            var all = _peaks.Values.ToList();
            var top = all.MaxBy(p => p.Rss);
            return $"peak RssAnon {all.Max(p => p.Anon) / 1e9:F2} GB, largest RSS {top.Rss / 1e9:F2} GB of which RssFile {top.FileAtRss / 1e9:F2} GB; per phase (peak anon / peak RSS): "
                + string.Join(", ", _order.Select(k => $"{k} {_peaks[k].Anon / 1e9:F2}/{_peaks[k].Rss / 1e9:F2}"));
        }
    }

    public static string Now() => $"RSS {Read("VmRSS") / 1e9:F2} GB (anon {Read("RssAnon") / 1e9:F2}, file {Read("RssFile") / 1e9:F2})";

    /// <summary>A /proc/self/status field in bytes.</summary>
    public static long Read(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }
}

/// <summary>
/// A random checkpoint in the official layout (bf16 backbone, F32 rm_head; N(0, 0.02²) weights, norms 1, biases 0),
/// written tensor by tensor (a 16 GB 7B file needs no more than a 100 MB pool in memory) and kept for later runs.
/// </summary>
internal static class RandomCheckpoint
{
    public static bool Ensure(string dir, string configJson)
    {
        var weights = Path.Combine(dir, "model.safetensors");
        var cfgPath = Path.Combine(dir, "config.json");
        if (File.Exists(weights) && File.Exists(cfgPath) && File.ReadAllText(cfgPath) == configJson)
        {
            return false;
        }

        Directory.CreateDirectory(dir);
        File.WriteAllText(cfgPath, configJson);
        using var meta = Hpsv3Model.CreateOnMeta(Qwen2VLConfig.Load(cfgPath));
        var parameters = meta.named_parameters().Select(p => (p.name, p.parameter.shape)).ToList();
        var headers = parameters.Select(p => new SafetensorsWriter.Header(p.name, p.name.StartsWith("rm_head.", StringComparison.Ordinal) ? SafetensorsDtype.F32 : SafetensorsDtype.BF16, p.shape)).ToList();
        // Drawing 8 billion normals takes longer than a benchmark step on 2 cores: draw a pool of 2^24 once and write
        // windows of it at random offsets (weights repeat across tensors, which no memory or speed figure depends on).
        const long pool = 1L << 24;
        using var generator = new Generator(1234, new Device(DeviceType.CPU));
        using var bf16Pool = randn([2 * pool], ScalarType.Float32, generator: generator).mul_(0.02).to(ScalarType.BFloat16);
        using var f32Pool = randn([2 * pool], ScalarType.Float32, generator: generator).mul_(0.02);
        var random = new Random(1234);
        SafetensorsWriter.WriteStreaming(weights, headers, (i, stream) =>
        {
            var (name, shape) = parameters[i];
            var dtype = headers[i].Dtype == SafetensorsDtype.F32 ? ScalarType.Float32 : ScalarType.BFloat16;
            long left = shape.Aggregate(1L, (a, b) => a * b);
            if (shape.Length == 1)
            {
                using var t = name.EndsWith(".bias", StringComparison.Ordinal) ? zeros([left], dtype) : ones([left], dtype);
                stream.Write(t.bytes);
                return;
            }

            var source = dtype == ScalarType.Float32 ? f32Pool : bf16Pool;
            while (left > 0)
            {
                long n = Math.Min(left, pool);
                using var window = source.narrow(0, random.NextInt64(pool), n).contiguous();
                stream.Write(window.bytes);
                left -= n;
            }
        }, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "HpsSharp.Training.Bench random weights" });
        return true;
    }
}
