using System.Diagnostics;
using System.Globalization;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Gpu;

// Shared by tests/HpsSharp.Modeling.Tests/CudaTests.cs (xunit, where CUDA is present) and the self-contained
// HpsSharp.GpuCheck program that tools/gpu-check.sh runs on a GPU machine without .NET.

/// <summary>One comparison of a CUDA output with its golden.</summary>
internal sealed record ParityResult(string Case, string Dtype, string Tensor, double MaxAbsDiff, double Tolerance)
{
    public bool Ok => MaxAbsDiff <= Tolerance;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{(Ok ? "ok  " : "FAIL")} {Case} {Dtype} {Tensor}: max |diff| {MaxAbsDiff:G3} (tolerance {Tolerance:G3})");
}

/// <summary>Timing of one forward configuration.</summary>
internal sealed record ThroughputResult(string Name, int Batch, long Tokens, long Patches, double MeanMs, double MinMs, int Iterations)
{
    public double ImagesPerSecond => Batch * 1000.0 / MeanMs;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: batch {Batch} × ({Tokens} tokens, {Patches} patches): mean {MeanMs:F1} ms, min {MinMs:F1} ms over {Iterations} → {ImagesPerSecond:F2} images/s");

    public string ToJson() => string.Create(CultureInfo.InvariantCulture,
        $"{{\"name\": \"{Name}\", \"batch\": {Batch}, \"tokens\": {Tokens}, \"patches\": {Patches}, \"mean_ms\": {MeanMs:F3}, \"min_ms\": {MinMs:F3}, \"iterations\": {Iterations}, \"images_per_s\": {ImagesPerSecond:F3}}}");
}

internal static class GpuChecks
{
    /// <summary>Why CUDA tests cannot run here, or null when they can.</summary>
    public static string? CudaUnavailableReason()
    {
        try
        {
            if (!cuda.is_available())
            {
                return "CUDA is not available to libtorch here (this build carries libtorch-cpu-linux-x64, or there is no NVIDIA GPU/driver); tools/gpu-check.sh runs these checks on a GPU machine";
            }

            return cuda.device_count() > 0 ? null : "CUDA reports no device";
        }
#pragma warning disable CA1031 // any failure to initialise CUDA is a reason to skip, reported as such
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return "CUDA could not be initialised: " + ex.Message;
        }
    }

    /// <summary>
    /// The tiny fixture on <paramref name="device"/>: head_out and hidden_at_reward of every case against the goldens of
    /// the independent reference, fp32 at 1e-4 and bf16 at the fixture's CPU tolerances (0.08 hidden, 0.1 head).
    /// </summary>
    public static List<ParityResult> TinyParity(string fixtureDir, string device)
    {
        var results = new List<ParityResult>();
        foreach (var dtype in new[] { "fp32", "bf16" })
        {
            using var model = Hpsv3Model.Load(fixtureDir, new ModelLoadOptions(Precisions.Parse(dtype), DeviceSpec.Parse(device)));
            foreach (var id in new[] { "chelsea", "coins", "rocket" })
            {
                using var f = SafetensorsFile.Open(Path.Combine(fixtureDir, $"expected_{id}.safetensors"));
                using var batch = SingleBatch(f);
                using var trace = new ForwardTrace();
                using var mode = inference_mode();
                using var head = model.Forward(batch, trace);
                double hiddenTol = dtype == "fp32" ? 1e-4 : 0.08, headTol = dtype == "fp32" ? 1e-4 : 0.1;
                results.Add(new ParityResult(id, dtype, "hidden_at_reward", MaxAbsDiff(f.ReadFloat32($"hidden_at_reward.{dtype}"), trace["hidden_at_reward"]), hiddenTol));
                results.Add(new ParityResult(id, dtype, "head_out", MaxAbsDiff(f.ReadFloat32($"head_out.{dtype}"), head), headTol));
            }
        }

        return results;
    }

    /// <summary>
    /// The released 7B shapes with random weights (seeded) in <paramref name="dtype"/> on <paramref name="device"/>:
    /// <paramref name="batch"/> items of one 448×448 image (1024 patches → 256 image tokens) and a short prompt, as
    /// HPSv3 scores them. Returns the mean and min of <paramref name="iterations"/> timed forwards after 2 warm-ups.
    /// </summary>
    public static ThroughputResult Throughput7B(string device, string dtype = "bf16", int batch = 4, int iterations = 10, int textTokens = 64)
    {
        using var model = Hpsv3Model.Create(Qwen2VLConfig.Released7B, new ModelLoadOptions(Precisions.Parse(dtype), DeviceSpec.Parse(device)), seed: 1);
        var input = SyntheticBatch(batch, textTokens, gridH: 32, gridW: 32, seed: 2);
        try
        {
            using var mode = inference_mode();
            var dev = new Device(device);
            for (int i = 0; i < 2; i++)
            {
                model.forward(input).Dispose();
            }

            Sync(dev);
            var times = new List<double>();
            for (int i = 0; i < iterations; i++)
            {
                var sw = Stopwatch.StartNew();
                using var y = model.forward(input);
                Sync(dev);
                times.Add(sw.Elapsed.TotalMilliseconds);
                if (!y.isfinite().all().item<bool>())
                {
                    throw new InvalidOperationException("the 7B forward produced a non-finite score");
                }
            }

            return new ThroughputResult($"hpssharp 7B {dtype} {device}", batch, input.InputIds.shape[1], input.PixelValues.shape[0] / batch, times.Average(), times.Min(), iterations);
        }
        finally
        {
            input.Dispose();
        }
    }

    /// <summary>A right-padded HPSv3 batch of equal rows: text, one image (grid 1×h×w), text, &lt;|Reward|&gt;.</summary>
    public static Hpsv3Batch SyntheticBatch(int batch, int textTokens, int gridH, int gridW, long seed)
    {
        int imageTokens = gridH * gridW / 4, length = textTokens + imageTokens + 3;
        var ids = new long[batch * length];
        for (int r = 0; r < batch; r++)
        {
            int at = r * length, half = textTokens / 2;
            for (int j = 0; j < length; j++)
            {
                ids[at + j] = 1000 + ((j * 31) % 5000);                     // ordinary text tokens
            }

            ids[at + half] = 151652;                                        // <|vision_start|>
            for (int j = 0; j < imageTokens; j++)
            {
                ids[at + half + 1 + j] = Qwen2VLConfig.Released7B.ImageTokenId; // <|image_pad|>
            }

            ids[at + half + 1 + imageTokens] = 151653;                      // <|vision_end|>
            ids[at + length - 1] = Hpsv3Layout.RewardTokenId;
        }

        var generator = new Generator((ulong)seed, new Device(DeviceType.CPU));
        var pixels = randn([batch * (long)gridH * gridW, 1176], generator: generator);
        var grid = new long[batch * 3];
        for (int r = 0; r < batch; r++)
        {
            grid[r * 3] = 1;
            grid[(r * 3) + 1] = gridH;
            grid[(r * 3) + 2] = gridW;
        }

        return new Hpsv3Batch(tensor(ids, [batch, length]), ones([batch, length], ScalarType.Int64), pixels, tensor(grid, [batch, 3]),
            full([batch], length - 1, ScalarType.Int64));
    }

    private static Hpsv3Batch SingleBatch(SafetensorsFile f)
    {
        var ids = f.ReadInt64("input_ids");
        return new Hpsv3Batch(
            tensor(ids, [1, ids.Length]),
            ones([1, ids.Length], ScalarType.Int64),
            tensor(f.ReadFloat32("pixel_values"), f["pixel_values"].Shape),
            tensor(f.ReadInt64("image_grid_thw"), [1, 3]),
            tensor(f.ReadInt64("reward_index"), [1]));
    }

    private static double MaxAbsDiff(float[] expected, Tensor actual)
    {
        using var a = actual.detach().to(ScalarType.Float32).cpu().flatten();
        var values = a.data<float>().ToArray();
        if (values.Length < expected.Length)
        {
            throw new InvalidOperationException($"expected {expected.Length} values, got {values.Length}");
        }

        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - values[i]));
        }

        return worst;
    }

    private static void Sync(Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            cuda.synchronize();
        }
    }
}
