using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Modeling.Gpu;
using HpsSharp.Testing;
using Xunit;
using Xunit.Abstractions;

namespace HpsSharp.Modeling.Tests;

/// <summary>A fact that runs only where libtorch sees a CUDA device; elsewhere it is skipped, saying why.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Reason = new(GpuChecks.CudaUnavailableReason);

    public CudaFactAttribute()
    {
        if (Reason.Value is { } why)
        {
            Skip = why;
        }
    }
}

/// <summary>
/// The CUDA run path: the tiny goldens on the GPU (fp32 1e-4, bf16 as on the CPU), the scorer end to end against the
/// CPU, and a 7B-shape throughput run (printed, never asserted). tools/gpu-check.sh runs the same checks
/// (GpuChecks.cs) on a GPU machine without .NET.
/// </summary>
[Trait("Category", "Model")]
public sealed class CudaTests(ITestOutputHelper output)
{
    [CudaFact]
    public void TinyGoldens_OnTheGpu_MatchLikeOnTheCpu()
    {
        var results = GpuChecks.TinyParity(TinyFixture.ModelDir, "cuda");
        foreach (var r in results)
        {
            output.WriteLine(r.ToString());
        }

        Assert.Equal(12, results.Count);
        Assert.All(results, r => Assert.True(r.Ok, r.ToString()));
    }

    [CudaFact]
    public async Task Scorer_OnCuda_AgreesWithTheCpuInFp32()
    {
        using var tmp = TestPaths.TempDir();
        var dir = TestPaths.TinyModelDir(tmp);
        var requests = new[] { "camera.png", "coins.png", "astronaut.png" }
            .Select(f => new ScoreRequest("a photo", ImageInput.FromPath(TestPaths.Image(f)))).ToList();
        using var cpu = HpsScorer.Load(dir, new HpsScorerOptions(Precision.Fp32, DeviceSpec.Cpu, BatchSize: 2));
        using var gpu = HpsScorer.Load(dir, new HpsScorerOptions(Precision.Fp32, new DeviceSpec(ComputeDevice.Cuda), BatchSize: 2));
        var a = await cpu.ScoreAsync(requests);
        var b = await gpu.ScoreAsync(requests);
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.InRange(Math.Abs(a[i].Score!.Value.Mu - b[i].Score!.Value.Mu), 0, 1e-4);
            Assert.InRange(Math.Abs(a[i].Score!.Value.LogSigma - b[i].Score!.Value.LogSigma), 0, 1e-4);
        }
    }

    [CudaFact]
    public void SevenBShapes_RunInBf16_AndPrintThroughput()
    {
        var t = GpuChecks.Throughput7B("cuda", "bf16", batch: 4, iterations: 5);
        output.WriteLine(t.ToString());
        Assert.True(t.MeanMs > 0);
    }
}
