using System.Diagnostics;
using static TorchSharp.torch;

namespace HpsSharp.Benchmarks.Shared;

/// <summary>The GEMM ceiling: FLOP/s of [m, k]×[k, n] in libtorch on this machine, best of a few after a warm-up.</summary>
internal static class Ceiling
{
    public static double Measure(long m, long k, long n, ScalarType dtype, int repeats = 3)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var a = randn([m, k], dtype) * 0.02;
        var b = randn([k, n], dtype) * 0.02;
        double flop = 2.0 * m * k * n;
        matmul(a, b).Dispose();
        double best = 0;
        for (int i = 0; i < repeats; i++)
        {
            var w = Stopwatch.StartNew();
            matmul(a, b).Dispose();
            best = Math.Max(best, flop / w.Elapsed.TotalSeconds);
        }

        return best;
    }
}
