using System.Globalization;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Tests;

/// <summary>Element-wise closeness with a failure message that names the worst element, its index and both values.</summary>
public static class TensorAssert
{
    /// <summary>Passes when |actual − expected| ≤ atol + rtol·|expected| everywhere (and shapes agree).</summary>
    public static void Close(float[] expected, long[] expectedShape, Tensor actual, double rtol, double atol, string what = "tensor")
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        if (!expectedShape.SequenceEqual(actual.shape))
        {
            throw new XunitException($"{what}: shape [{string.Join(", ", actual.shape)}] but expected [{string.Join(", ", expectedShape)}]");
        }

        using var cpu = actual.detach().to(ScalarType.Float32).cpu().contiguous();
        Close(expected, expectedShape, cpu.data<float>().ToArray(), rtol, atol, what);
    }

    /// <summary>Same as the tensor overload, over flat row-major arrays.</summary>
    public static void Close(float[] expected, long[] shape, float[] actual, double rtol, double atol, string what = "tensor")
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        if (expected.Length != actual.Length)
        {
            throw new XunitException($"{what}: {actual.Length} elements but expected {expected.Length}");
        }

        int worst = -1;
        double worstExcess = double.NegativeInfinity, maxAbs = 0;
        int failures = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(diff))
            {
                diff = double.PositiveInfinity;
            }

            double excess = diff - (atol + rtol * Math.Abs(expected[i]));
            maxAbs = Math.Max(maxAbs, diff);
            if (excess > 0)
            {
                failures++;
            }

            if (excess > worstExcess)
            {
                worstExcess = excess;
                worst = i;
            }
        }

        if (failures > 0)
        {
            throw new XunitException(string.Create(CultureInfo.InvariantCulture,
                $"{what}: {failures} of {expected.Length} elements differ beyond atol {atol:G3} + rtol {rtol:G3}; worst at [{string.Join(", ", Unravel(worst, shape))}]: expected {expected[worst]:R}, actual {actual[worst]:R} (|diff| {Math.Abs((double)actual[worst] - expected[worst]):G4}); max |diff| {maxAbs:G4}"));
        }
    }

    /// <summary>The largest absolute difference (for reporting measured agreement).</summary>
    public static double MaxAbsDiff(float[] expected, Tensor actual)
    {
        using var cpu = actual.detach().to(ScalarType.Float32).cpu().contiguous();
        var a = cpu.data<float>().ToArray();
        double max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            max = Math.Max(max, Math.Abs((double)a[i] - expected[i]));
        }

        return max;
    }

    private static long[] Unravel(int flat, long[] shape)
    {
        var index = new long[shape.Length];
        long rest = flat;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            long size = Math.Max(shape[d], 1);
            index[d] = rest % size;
            rest /= size;
        }

        return index;
    }
}
