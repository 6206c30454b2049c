using FFMpegCore;
using FFMpegCore.Exceptions;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Video;

namespace HpsSharp.Media;

/// <summary>
/// Decodes video with the system's FFmpeg (Debian's <c>ffmpeg</c> package) through FFMpegCore: ffprobe reads the
/// stream's size and frame rate, then ffmpeg writes raw <c>rgb24</c> frames to its standard output, which is read frame by
/// frame to the end. With a stride only every S-th frame is kept while streaming; with a count every frame is held (up to
/// <see cref="MaxFramesHeld"/>) until the end, because containers do not reliably state their frame count.
/// </summary>
public sealed class FfmpegVideoDecoder : IVideoDecoder
{
    /// <summary>Most frames held in memory when sampling by count (longer clips must be sampled by stride).</summary>
    public int MaxFramesHeld { get; init; } = 2048;

    /// <summary>Most frames returned for one clip.</summary>
    public int MaxFramesReturned { get; init; } = 1024;

    /// <inheritdoc/>
    public async Task<IReadOnlyList<VideoFrame>> DecodeAsync(string path, FrameSampling sampling, long maxPixelsPerFrame, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(sampling);
        if (!File.Exists(path))
        {
            throw new VideoDecodeException(path, "file not found");
        }

        IMediaAnalysis probe;
        try
        {
            probe = await FFProbe.AnalyseAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Instances.Exceptions.InstanceFileNotFoundException ex)
        {
            throw new VideoDecodeException(path, "ffprobe was not found on PATH; install FFmpeg (Debian: apt-get install ffmpeg)", ex);
        }
        catch (Exception ex) when (ex is FFMpegException or FormatException or InvalidOperationException or System.Text.Json.JsonException)
        {
            throw new VideoDecodeException(path, $"not a decodable video ({FirstLine(ex.Message)})", ex);
        }

        var stream = probe.PrimaryVideoStream
            ?? throw new VideoDecodeException(path, "the file has no video stream");
        int width = stream.Width ?? 0, height = stream.Height ?? 0;
        if (width <= 0 || height <= 0)
        {
            throw new VideoDecodeException(path, "the video stream does not state its frame size");
        }

        if ((long)width * height > maxPixelsPerFrame)
        {
            throw new VideoDecodeException(path, $"frames are {width}x{height} = {(long)width * height} pixels; the limit is {maxPixelsPerFrame}");
        }

        double fps = stream.AverageFrameRate is > 0 and < 10_000 ? stream.AverageFrameRate : stream.RealFrameRate;
        int frameBytes = width * height * 3;
        var kept = new List<VideoFrame>();
        int index = 0;

        // ffmpeg writes the frames to its standard output, which is read here to the end before ffmpeg's exit is
        // awaited. (FFMpegCore's output pipe cancels its reader and disposes the pipe as soon as ffmpeg exits, so a
        // reader that lags behind on a loaded machine silently lost the frames still buffered: "no frame could be
        // decoded" or a short clip.)
        var psi = new System.Diagnostics.ProcessStartInfo(GlobalFFOptions.GetFFMpegBinaryPath())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-nostdin", "-v", "error", "-i", path, "-an", "-sn", "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1" })
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = new System.Diagnostics.Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new VideoDecodeException(path, "ffmpeg was not found on PATH; install FFmpeg (Debian: apt-get install ffmpeg)", ex);
        }

        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            var output = process.StandardOutput.BaseStream;
            var buffer = new byte[frameBytes];
            while (true)
            {
                int got = await output.ReadAtLeastAsync(buffer, frameBytes, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (got < frameBytes)
                {
                    break; // end of stream (a trailing partial frame is not a frame)
                }

                bool keep = sampling.Stride is { } s ? index % s == 0 : true;
                if (keep)
                {
                    if (kept.Count >= (sampling.Stride is null ? MaxFramesHeld : MaxFramesReturned))
                    {
                        throw new VideoDecodeException(path, sampling.Stride is null
                            ? $"the clip has more than {MaxFramesHeld} frames; sample it with a stride instead of a count"
                            : $"more than {MaxFramesReturned} frames would be scored; use a larger stride");
                    }

                    kept.Add(new VideoFrame(index, fps > 0 ? index / fps : 0, new RgbImage(width, height, buffer)));
                    buffer = new byte[frameBytes];
                }

                index++;
            }

            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Stopped early (too many frames, cancelled): do not leave ffmpeg running.
            Kill(process);
            throw;
        }

        string errors = await stderr.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new VideoDecodeException(path, $"ffmpeg could not decode the clip ({FirstLine(errors.Length > 0 ? errors : $"exit code {process.ExitCode}")})");
        }

        if (kept.Count == 0)
        {
            throw new VideoDecodeException(path, "no frame could be decoded");
        }

        if (sampling.Frames is { } n)
        {
            var chosen = FrameSampling.EvenlySpaced(kept.Count, n);
            if (chosen.Count > MaxFramesReturned)
            {
                throw new VideoDecodeException(path, $"{chosen.Count} frames would be scored; the limit is {MaxFramesReturned}");
            }

            return [.. chosen.Select(i => kept[i])];
        }

        return kept;
    }

    private static void Kill(System.Diagnostics.Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    private static string FirstLine(string message)
    {
        // ffprobe/ffmpeg errors arrive as "… exited with non-zero exit-code (1 - [mov,mp4,… @ 0x…] error reading header)";
        // the part after the last "] " is what the user needs.
        var line = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "unknown error";
        int bracket = line.LastIndexOf("] ", StringComparison.Ordinal);
        return (bracket >= 0 ? line[(bracket + 2)..] : line).TrimEnd(')').Trim();
    }
}
