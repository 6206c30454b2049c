using System.Globalization;
using HpsSharp.Core.Imaging;

namespace HpsSharp.Core.Video;

/// <summary>One decoded frame: its index in the stream, its time in seconds and its RGB pixels.</summary>
public sealed record VideoFrame(int Index, double Time, RgbImage Image);

/// <summary>
/// Which frames to take along the time axis: every <see cref="Stride"/>-th frame starting at 0, or
/// <see cref="Frames"/> frames evenly spaced from the first to the last (indices round(i·(n−1)/(N−1))).
/// </summary>
public sealed record FrameSampling
{
    private FrameSampling(int? frames, int? stride)
    {
        Frames = frames;
        Stride = stride;
    }

    /// <summary>Evenly spaced frame count, when sampling by count.</summary>
    public int? Frames { get; }

    /// <summary>Frame stride, when sampling by stride.</summary>
    public int? Stride { get; }

    /// <summary>N frames evenly spaced over the clip.</summary>
    public static FrameSampling Count(int frames) => frames >= 1
        ? new FrameSampling(frames, null)
        : throw new ArgumentOutOfRangeException(nameof(frames), $"the frame count must be at least 1 (got {frames})");

    /// <summary>Every S-th frame from the first.</summary>
    public static FrameSampling EveryNth(int stride) => stride >= 1
        ? new FrameSampling(null, stride)
        : throw new ArgumentOutOfRangeException(nameof(stride), $"the stride must be at least 1 (got {stride})");

    /// <summary>The indices of <paramref name="total"/> frames that sampling by count keeps (ascending, distinct).</summary>
    public static IReadOnlyList<int> EvenlySpaced(int total, int count)
    {
        if (total <= 0)
        {
            return [];
        }

        if (count >= total)
        {
            return [.. Enumerable.Range(0, total)];
        }

        if (count == 1)
        {
            return [0];
        }

        return [.. Enumerable.Range(0, count).Select(i => (int)Math.Round(i * (total - 1) / (double)(count - 1), MidpointRounding.AwayFromZero)).Distinct()];
    }

    /// <inheritdoc/>
    public override string ToString() => Frames is { } f ? $"{f} frames" : $"stride {Stride}";
}

/// <summary>A clip that could not be decoded (corrupt, no video stream, too long, too large).</summary>
public sealed class VideoDecodeException(string source, string reason, Exception? inner = null)
    : HpsException($"{source}: {reason}", inner)
{
    /// <summary>The clip (a path or an item name).</summary>
    public string Clip { get; } = source;

    /// <summary>What is wrong.</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// Decodes a video file to RGB frames. Lives behind this interface so Core never starts a process: the FFmpeg
/// implementation is in HpsSharp.Media.
/// </summary>
public interface IVideoDecoder
{
    /// <summary>
    /// Decodes the sampled frames of the clip at <paramref name="path"/>. Throws <see cref="VideoDecodeException"/>
    /// for a clip that cannot be decoded, has no video stream, or whose frames exceed <paramref name="maxPixelsPerFrame"/>.
    /// </summary>
    Task<IReadOnlyList<VideoFrame>> DecodeAsync(string path, FrameSampling sampling, long maxPixelsPerFrame, CancellationToken cancellationToken = default);
}

/// <summary>How per-frame scores become one video score.</summary>
public sealed record VideoAggregate
{
    private VideoAggregate(string kind, double fraction)
    {
        Kind = kind;
        Fraction = fraction;
    }

    /// <summary>"mean", "min" or "top_fraction".</summary>
    public string Kind { get; }

    /// <summary>For top_fraction: the share of best frames averaged, in (0, 1].</summary>
    public double Fraction { get; }

    /// <summary>The mean of all frames.</summary>
    public static VideoAggregate Mean { get; } = new("mean", 1);

    /// <summary>The worst frame.</summary>
    public static VideoAggregate Min { get; } = new("min", 1);

    /// <summary>
    /// The mean of the best <paramref name="fraction"/> of frames: max(1, ⌊n·fraction⌋) frames, as the video RL code
    /// (Flash-GRPO's video HPSv3 reward, UniRL's <c>videohpsv3</c>) uses it with 0.3.
    /// </summary>
    public static VideoAggregate TopFraction(double fraction) => fraction is > 0 and <= 1
        ? new("top_fraction", fraction)
        : throw new ArgumentOutOfRangeException(nameof(fraction), $"the top fraction must be in (0, 1] (got {fraction})");

    /// <summary>The name as the CLI and JSON write it: <c>mean</c>, <c>min</c>, <c>top_fraction:0.3</c>.</summary>
    public string Name => Kind == "top_fraction" ? $"top_fraction:{Fraction.ToString("R", CultureInfo.InvariantCulture)}" : Kind;

    /// <summary>Parses <c>mean</c>, <c>min</c> or <c>top_fraction:F</c>; null for anything else.</summary>
    public static VideoAggregate? Parse(string? text)
    {
        if (text is "mean")
        {
            return Mean;
        }

        if (text is "min")
        {
            return Min;
        }

        const string prefix = "top_fraction:";
        return text is not null && text.StartsWith(prefix, StringComparison.Ordinal)
            && double.TryParse(text.AsSpan(prefix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var f) && f is > 0 and <= 1
            ? TopFraction(f)
            : null;
    }

    /// <summary>The aggregate of the per-frame scores (at least one).</summary>
    public double Apply(IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count == 0)
        {
            throw new ArgumentException("no frame scores to aggregate", nameof(scores));
        }

        return Kind switch
        {
            "mean" => scores.Average(),
            "min" => scores.Min(),
            _ => scores.OrderDescending().Take(Math.Max(1, (int)(scores.Count * Fraction))).Average(),
        };
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
