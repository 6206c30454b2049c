// Peak memory and time of one HPSv3 forward pass at the 7B widths (hidden 3584, vision 1280, vocabulary 151658) with
// a chosen number of decoder layers and vision blocks, on a synthetic checkpoint written here. With fewer layers than
// the real 28/32 the file-backed part scales with the layers run; the anonymous part (activations) does not, since
// each layer frees its temporaries. Usage:
//   dotnet run -c Release --project benchmarks/HpsSharp.Modeling.Memory -- DIR [layers=2] [blocks=2] [tokens=830] [dtype=bf16]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling;
using static TorchSharp.torch;

var dir = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "hps-memory");
int layers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
int blocks = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
int tokens = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 830;
string dtype = args.Length > 4 ? args[4] : "bf16";
Directory.CreateDirectory(dir);

var dims = Hpsv3Dimensions.Released7B with { NumLayers = layers, VisionDepth = blocks };
var weights = Path.Combine(dir, "model.safetensors");
var configPath = Path.Combine(dir, "config.json");
if (!File.Exists(weights) || !File.Exists(configPath))
{
    var config = new Dictionary<string, object>
    {
        ["hidden_size"] = 3584, ["num_hidden_layers"] = layers, ["num_attention_heads"] = 28, ["num_key_value_heads"] = 4,
        ["intermediate_size"] = 18944, ["vocab_size"] = 151658, ["rms_norm_eps"] = 1e-6, ["rope_theta"] = 1e6, ["hidden_act"] = "silu",
        ["vision_config"] = new Dictionary<string, object> { ["depth"] = blocks, ["embed_dim"] = 1280, ["num_heads"] = 16, ["mlp_ratio"] = 4, ["hidden_size"] = 3584 },
    };
    File.WriteAllText(configPath, JsonSerializer.Serialize(config));
    var table = Hpsv3Layout.ExpectedTensors(dims).Append(new Hpsv3ExpectedTensor("lm_head.weight", [151658, 3584], Hpsv3TensorRole.Backbone)).ToList();
    var headers = table.Select(t => new SafetensorsWriter.Header(t.Name, t.Role == Hpsv3TensorRole.RewardHead ? SafetensorsDtype.F32 : SafetensorsDtype.BF16, t.Shape)).ToList();
    var watch = Stopwatch.StartNew();
    SafetensorsWriter.WriteStreaming(weights, headers, (i, stream) =>
    {
        var h = headers[i];
        long n = h.Shape.Aggregate(1L, (a, b) => a * b);
        bool ones = h.Name.Contains("norm", StringComparison.Ordinal) || h.Name.Contains("ln_q", StringComparison.Ordinal);
        bool zero = h.Name.EndsWith(".bias", StringComparison.Ordinal);
        var rng = new Random(i);
        var buffer = new byte[1 << 20];
        int size = h.Dtype == SafetensorsDtype.F32 ? 4 : 2;
        for (long done = 0; done < n;)
        {
            int count = (int)Math.Min(n - done, buffer.Length / size);
            for (int k = 0; k < count; k++)
            {
                float v = zero ? 0 : ones ? 1 : (float)((rng.NextDouble() - 0.5) * 0.04);
                if (size == 4)
                {
                    BitConverter.TryWriteBytes(buffer.AsSpan(k * 4), v);
                }
                else
                {
                    BitConverter.TryWriteBytes(buffer.AsSpan(k * 2), SafetensorsDtypes.FloatToBFloat16(v));
                }
            }

            stream.Write(buffer, 0, count * size);
            done += count;
        }
    });
    Console.WriteLine($"wrote {weights} ({new FileInfo(weights).Length / 1e9:F2} GB) in {watch.Elapsed.TotalSeconds:F0} s");
}

var sampler = new MemorySampler();
sampler.Start();
Console.WriteLine($"start: {MemorySampler.Read()}");
var loadWatch = Stopwatch.StartNew();
using var model = Hpsv3Model.Load(dir, new ModelLoadOptions(Precisions.Parse(dtype)));
Console.WriteLine($"loaded in {loadWatch.Elapsed.TotalSeconds:F1} s ({model.ZeroCopyParameters} of {model.parameters().Count()} parameters zero-copy): {MemorySampler.Read()}");

// An HPSv3-shaped input: a 448×448 image (grid 1×32×32 → 256 merged tokens) inside a sequence of `tokens` tokens.
var ids = new long[tokens];
var rnd = new Random(1);
for (int i = 0; i < tokens; i++)
{
    ids[i] = rnd.Next(0, 151000);
}

for (int i = 0; i < 256; i++)
{
    ids[20 + i] = 151655;
}

ids[tokens - 1] = 151657;
var pixels = new float[1024 * 1176];
for (int i = 0; i < pixels.Length; i++)
{
    pixels[i] = (float)(rnd.NextDouble() * 2 - 1);
}

for (int run = 0; run < 2; run++)
{
    using var inference = inference_mode();
    using var scope = NewDisposeScope();
    using var batch = new Hpsv3Batch(tensor(ids, [1, tokens]), ones([1, tokens], ScalarType.Int64), tensor(pixels, [1024, 1176]), tensor(new long[] { 1, 32, 32 }, [1, 3]), tensor(new long[] { tokens - 1 }, [1]));
    var watch = Stopwatch.StartNew();
    var output = model.forward(batch).data<float>().ToArray();
    Console.WriteLine($"forward {run + 1}: {watch.Elapsed.TotalSeconds:F2} s, mu {output[0]:F4}, log_sigma {output[1]:F4}: {MemorySampler.Read()}");
}

sampler.Stop();
Console.WriteLine($"peaks: VmHWM {MemorySampler.Field("VmHWM") / 1e6:F2} GB, RssAnon {sampler.MaxAnon / 1e6:F2} GB, RssFile {sampler.MaxFile / 1e6:F2} GB (kB-based /proc/self/status, sampled every 2 ms)");
