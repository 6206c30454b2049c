namespace HpsSharp.Core.Imaging;

/// <summary>
/// qwen-vl-utils / HPSv3 <c>smart_resize</c>: the target size, a multiple of <c>factor</c> on both axes, whose area is
/// near [minPixels, maxPixels] while keeping the aspect ratio (docs/preprocessing.md).
/// </summary>
public static class SmartResize
{
    /// <summary>The largest accepted ratio between the longer and the shorter side.</summary>
    public const double MaxAspectRatio = 200;

    /// <summary>Long side over short side (both must be positive), compared with <see cref="MaxAspectRatio"/>.</summary>
    public static double AspectRatio(int height, int width) => (double)Math.Max(height, width) / Math.Min(height, width);

    /// <summary>
    /// The resized (height, width). Python's <c>round</c> (half to even) on the double quotient; floor/ceil branches
    /// when the rounded area leaves the budget. With min = max the ceil branch can overshoot the budget (300×200 →
    /// 560×392), exactly as upstream.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A non-positive size, factor or budget, or an aspect ratio over 200.</exception>
    /// <summary>HPSv3's fixed pixel budget: 256 merged tokens of 28×28 pixels (min = max = 200704).</summary>
    public const int Hpsv3Pixels = 256 * Factor * Factor;

    /// <summary>The resize factor: patch size 14 × merge size 2.</summary>
    public const int Factor = 28;

    public static (int Height, int Width) Compute(int height, int width, int factor = Factor, int minPixels = Hpsv3Pixels, int maxPixels = Hpsv3Pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(factor);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minPixels);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPixels, minPixels);

        double ratio = AspectRatio(height, width);
        if (ratio > MaxAspectRatio)
        {
            throw new ArgumentOutOfRangeException(
                nameof(height), $"absolute aspect ratio must be smaller than {MaxAspectRatio}, got {ratio:0.###} ({width}x{height})");
        }

        long hBar = Math.Max(factor, RoundByFactor(height, factor));
        long wBar = Math.Max(factor, RoundByFactor(width, factor));
        if (hBar * wBar > maxPixels)
        {
            double beta = Math.Sqrt((double)height * width / maxPixels);
            // Upstream (HPSv3's copy) has no max(factor, …) here; it only matters for budgets so small that the floor
            // reaches 0, which would be an invalid size anyway.
            hBar = Math.Max(factor, FloorByFactor(height / beta, factor));
            wBar = Math.Max(factor, FloorByFactor(width / beta, factor));
        }
        else if (hBar * wBar < minPixels)
        {
            double beta = Math.Sqrt((double)minPixels / ((double)height * width));
            hBar = CeilByFactor(height * beta, factor);
            wBar = CeilByFactor(width * beta, factor);
        }

        return (checked((int)hBar), checked((int)wBar));
    }

    private static long RoundByFactor(int value, int factor) => (long)Math.Round((double)value / factor, MidpointRounding.ToEven) * factor;

    // h / β / factor: two divisions in this order, as in Python.
    private static long FloorByFactor(double value, int factor) => (long)Math.Floor(value / factor) * factor;

    private static long CeilByFactor(double value, int factor) => (long)Math.Ceiling(value / factor) * factor;
}
