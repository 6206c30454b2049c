using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using TorchSharp;

namespace HpsSharp.Diagnostics;

/// <summary>What libtorch says about itself once loaded: versions, threads, CUDA.</summary>
/// <param name="Loaded">libtorch and libLibTorchSharp loaded and ran a tensor operation.</param>
/// <param name="Error">Why loading failed (null when it loaded).</param>
/// <param name="TorchSharpVersion">The TorchSharp assembly's version.</param>
/// <param name="LibTorchVersion">libtorch's own version string (null when it did not load).</param>
/// <param name="LibTorchSharpPath">The native bridge that was loaded (from <c>/proc/self/maps</c>) or would be.</param>
/// <param name="LibStdCxxPath">The libstdc++ the process uses.</param>
/// <param name="CudaBuild">The loaded libtorch has CUDA kernels (<c>libtorch_cuda.so</c>).</param>
/// <param name="CudaAvailable"><c>torch.cuda.is_available()</c>.</param>
/// <param name="CudaDevices"><c>torch.cuda.device_count()</c>.</param>
/// <param name="IntraOpThreads"><c>torch.get_num_threads()</c>.</param>
/// <param name="InterOpThreads"><c>torch.get_num_interop_threads()</c>.</param>
public sealed record TorchFacts(
    bool Loaded,
    string? Error,
    string TorchSharpVersion,
    string? LibTorchVersion,
    string? LibTorchSharpPath,
    string? LibStdCxxPath,
    bool CudaBuild,
    bool CudaAvailable,
    int CudaDevices,
    int IntraOpThreads,
    int InterOpThreads)
{
    /// <summary>Loads libtorch (if it is not already) and reads its facts; never throws.</summary>
    public static TorchFacts Probe()
    {
        var tsVersion = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown";
        int plus = tsVersion.IndexOf('+', StringComparison.Ordinal);
        if (plus > 0)
        {
            tsVersion = tsVersion[..plus];
        }

        try
        {
            using (var t = torch.ones(4).sum())
            {
                if (t.item<float>() != 4f)
                {
                    return Failed(tsVersion, "libtorch loaded but computed a wrong sum of ones(4)");
                }
            }

            var maps = LoadedLibraries();
            bool cudaAvailable = torch.cuda.is_available();
            return new TorchFacts(true, null, tsVersion, torch.__version__,
                maps.FirstOrDefault(p => p.EndsWith("libLibTorchSharp.so", StringComparison.Ordinal)) ?? FindBridge(),
                maps.FirstOrDefault(p => Path.GetFileName(p).StartsWith("libstdc++.so", StringComparison.Ordinal)),
                maps.Any(p => Path.GetFileName(p).StartsWith("libtorch_cuda", StringComparison.Ordinal)) || cudaAvailable,
                cudaAvailable, cudaAvailable ? torch.cuda.device_count() : 0,
                torch.get_num_threads(), torch.get_num_interop_threads());
        }
#pragma warning disable CA1031 // a diagnostic must report every way the native load can fail, not crash on it
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return Failed(tsVersion, Flatten(ex));
        }
    }

    private static TorchFacts Failed(string tsVersion, string error)
    {
        var maps = LoadedLibraries();
        return new TorchFacts(false, error, tsVersion, null, FindBridge(),
            maps.FirstOrDefault(p => Path.GetFileName(p).StartsWith("libstdc++.so", StringComparison.Ordinal)) ?? FindSystemLibStdCxx(),
            false, false, 0, 0, 0);
    }

    /// <summary>Paths of the shared objects mapped into this process (Linux); empty elsewhere.</summary>
    internal static IReadOnlyList<string> LoadedLibraries()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps))
        {
            return [];
        }

        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(maps))
        {
            int slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && line.Contains(".so", StringComparison.Ordinal))
            {
                set.Add(line[slash..].Trim());
            }
        }

        return set.ToList();
    }

    /// <summary>Where the runtime would look for the native bridge (app folder, then <c>runtimes/RID/native</c>).</summary>
    internal static string? FindBridge()
    {
        var baseDir = AppContext.BaseDirectory;
        foreach (var candidate in new[] { Path.Combine(baseDir, "libLibTorchSharp.so"), Path.Combine(baseDir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so") })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string? FindSystemLibStdCxx()
    {
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu" })
        {
            var p = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(p))
            {
                return p;
            }
        }

        return null;
    }

    private static string Flatten(Exception ex)
    {
        var parts = new List<string>();
        for (var e = ex; e is not null; e = e.InnerException)
        {
            parts.Add(e.Message.ReplaceLineEndings(" "));
        }

        return string.Join(" → ", parts.Distinct(StringComparer.Ordinal));
    }
}

/// <summary>GPUs as the NVIDIA driver lists them (<c>nvidia-smi</c>), independent of libtorch.</summary>
public static class NvidiaSmi
{
    /// <summary>One line per GPU (index, name, total and free memory in MiB), or null when there is no driver tool.</summary>
    public static IReadOnlyList<string>? Query()
    {
        try
        {
            var psi = new ProcessStartInfo("nvidia-smi", "--query-gpu=index,name,memory.total,memory.free --format=csv,noheader")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var p = Process.Start(psi);
            if (p is null)
            {
                return null;
            }

            var output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(10_000) || p.ExitCode != 0)
            {
                return null;
            }

            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Bytes as GiB with one decimal, or MiB below 1 GiB.</summary>
    internal static string Gib(long bytes) => bytes >= 1L << 30
        ? (bytes / (1024.0 * 1024 * 1024)).ToString("F1", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
}
