using HpsSharp.Core.Scoring;
using HpsSharp.Core.Video;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace HpsSharp.Server.Protocols;

/// <summary>How to sample and aggregate one clip.</summary>
public sealed record VideoOptions(int? Frames = null, int? Stride = null, VideoAggregate? Aggregate = null)
{
    /// <summary>The sampling: a count, a stride, or 16 evenly spaced frames when neither is given.</summary>
    public FrameSampling Sampling => Stride is { } s ? FrameSampling.EveryNth(s) : FrameSampling.Count(Frames ?? 16);
}

/// <summary>A clip's result: the aggregate μ and its per-frame scores, or why it failed.</summary>
public sealed record VideoItemResult(double Mu, string? Aggregate, IReadOnlyList<FrameRecord> Frames, string? Error)
{
    public static VideoItemResult Failed(string error) => new(double.NaN, null, [], error);
}

/// <summary>
/// Scores a clip in the service: the base64 bytes go to a temporary file (containers such as MP4 need a seekable
/// input), the decoder samples frames, and the frames go through the same queue as images, so frames of
/// concurrent clips and images share batches. A clip that cannot be decoded fails alone.
/// </summary>
public sealed class VideoScoring(IVideoDecoder decoder, ScoringQueue queue, RewardServiceOptions options)
{
    /// <summary>The service's video scorer, or null when no decoder is registered.</summary>
    public static VideoScoring? Get(IServiceProvider services) => services.GetService<VideoScoring>();

    /// <summary>Decodes and scores one base64 clip; never throws for a bad clip (the error is in the result).</summary>
    public async Task<VideoItemResult> ScoreBase64Async(HttpContext ctx, string prompt, string base64, VideoOptions video, string name)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(video);
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            return VideoItemResult.Failed($"{name}: \"video\" is not valid base64");
        }

        if (bytes.Length == 0)
        {
            return VideoItemResult.Failed($"{name}: the video is empty");
        }

        var tmp = Path.Combine(Path.GetTempPath(), $"hps-video-{Guid.NewGuid():N}.bin");
        IReadOnlyList<VideoFrame> frames;
        try
        {
            await File.WriteAllBytesAsync(tmp, bytes, ctx.RequestAborted).ConfigureAwait(false);
            frames = await decoder.DecodeAsync(tmp, video.Sampling, options.MaxDecodedPixels, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (VideoDecodeException ex)
        {
            return VideoItemResult.Failed($"{name}: {ex.Reason}");
        }
        catch (IOException ex)
        {
            // The temporary file could not be written (a full disk): this clip fails, the request goes on.
            return VideoItemResult.Failed($"{name}: the clip could not be stored for decoding ({ex.Message})");
        }
        finally
        {
            try
            {
                File.Delete(tmp);
            }
            catch (IOException)
            {
                // best effort: a leftover temporary file must not turn a scored clip into an error
            }
        }

        if (frames.Count > options.MaxItemsPerRequest)
        {
            return VideoItemResult.Failed($"{name}: {frames.Count} frames exceed the limit max_items = {options.MaxItemsPerRequest}; sample fewer frames");
        }

        var items = frames.Select(f => new ParsedItem(new ScoreRequest(prompt, ImageInput.FromRgb(f.Image.Pixels, f.Image.Width, f.Image.Height, $"{name} frame {f.Index}")), null)).ToList();
        var (results, _) = await ScoringEndpoints.RunAsync(ctx, queue, options, items).ConfigureAwait(false);
        var scored = new List<FrameRecord>(frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            scored.Add(new FrameRecord(frames[i].Index, frames[i].Time, results[i].Score, results[i].LogSigma, results[i].Error));
        }

        var ok = scored.Where(f => f.Mu is not null).Select(f => f.Mu!.Value).ToList();
        if (ok.Count == 0)
        {
            return new VideoItemResult(double.NaN, null, scored, $"{name}: no frame could be scored ({scored[0].Error})");
        }

        var aggregate = video.Aggregate ?? VideoAggregate.Mean;
        return new VideoItemResult(aggregate.Apply(ok), aggregate.Name, scored, null);
    }
}
