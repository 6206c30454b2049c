using System.Diagnostics;
using Xunit;

namespace HpsSharp.Testing;

/// <summary>Video clips made at test time with the system's ffmpeg (lavfi sources: testsrc, colour ramps).</summary>
public static class TestClips
{
    /// <summary>Path of the ffmpeg the tests use, or null when it is not installed.</summary>
    public static string? Ffmpeg { get; } = new[] { "/usr/bin/ffmpeg", "/usr/local/bin/ffmpeg" }.FirstOrDefault(File.Exists);

    /// <summary>Writes an H.264 MP4 of <paramref name="frames"/> frames at <paramref name="fps"/> from a lavfi source.</summary>
    public static string Make(string path, string source, int frames, int fps = 8)
    {
        var psi = new ProcessStartInfo(Ffmpeg ?? "ffmpeg",
            ["-v", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", frames.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "-r", fps.ToString(System.Globalization.CultureInfo.InvariantCulture), "-pix_fmt", "yuv420p", path])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed to make {path}: {err}");
        }

        return path;
    }

    /// <summary>testsrc (moving pattern with a frame counter) of the given size.</summary>
    public static string TestSrc(string path, int frames, int width = 64, int height = 48, int fps = 8) =>
        Make(path, $"testsrc=size={width}x{height}:rate={fps}", frames, fps);

    /// <summary>A horizontal colour ramp whose brightness rises over time (each frame differs).</summary>
    public static string Ramp(string path, int frames, int width = 48, int height = 32, int fps = 8) =>
        Make(path, $"color=c=black:size={width}x{height}:rate={fps},geq=r='X*255/W':g='N*255/{Math.Max(1, frames - 1)}':b='Y*255/H'", frames, fps);

    /// <summary>A clip that is cut short (only its first bytes), so no demuxer can read it.</summary>
    public static string Corrupt(string path, string from)
    {
        var bytes = File.ReadAllBytes(from);
        File.WriteAllBytes(path, bytes[..Math.Min(200, bytes.Length / 4)]);
        return path;
    }
}

/// <summary>A fact that is skipped, with the reason, where ffmpeg is not installed.</summary>
public sealed class FfmpegFactAttribute : FactAttribute
{
    public FfmpegFactAttribute()
    {
        if (TestClips.Ffmpeg is null)
        {
            Skip = "ffmpeg is not installed (bash tools/ci-packages.sh installs it)";
        }
    }
}
