using System.Globalization;
using System.Runtime.Intrinsics.X86;

namespace HpsSharp.Diagnostics;

/// <summary>
/// What the machine has, read from Linux (<c>/proc/meminfo</c>, <c>/proc/cpuinfo</c>, the cgroup memory limit) with
/// .NET fallbacks elsewhere. Every figure can be replaced through <see cref="DoctorOptions"/> or, for tests of the
/// installed tool, the environment variables <c>HPS_DOCTOR_AVAILABLE_MEMORY</c> and <c>HPS_DOCTOR_FREE_DISK</c>
/// (bytes; for testing only — they make the doctor believe a figure the machine does not have).
/// </summary>
public sealed record SystemFacts(
    long TotalMemoryBytes,
    long AvailableMemoryBytes,
    string CpuModel,
    IReadOnlySet<string> CpuFlags,
    int LogicalProcessors)
{
    /// <summary>Testing override of the available memory, in bytes.</summary>
    public const string AvailableMemoryVariable = "HPS_DOCTOR_AVAILABLE_MEMORY";

    /// <summary>Testing override of the free disk space, in bytes.</summary>
    public const string FreeDiskVariable = "HPS_DOCTOR_FREE_DISK";

    /// <summary>Reads this machine.</summary>
    public static SystemFacts Read(Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        var (total, available) = Memory();
        if (ParseBytes(getEnv(AvailableMemoryVariable)) is { } forced)
        {
            available = forced;
        }

        var (model, flags) = Cpu();
        return new SystemFacts(total, available, model, flags, Environment.ProcessorCount);
    }

    /// <summary>Free bytes on the file system holding <paramref name="path"/> (or its nearest existing parent).</summary>
    public static long? FreeDiskBytes(string path, Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        if (ParseBytes(getEnv(FreeDiskVariable)) is { } forced)
        {
            return forced;
        }

        var dir = new DirectoryInfo(Path.GetFullPath(path));
        while (dir is not null && !dir.Exists)
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            return null;
        }

        try
        {
            return new DriveInfo(dir.FullName).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A number of bytes, or null when <paramref name="text"/> is empty or not a non-negative integer.</summary>
    internal static long? ParseBytes(string? text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static (long Total, long Available) Memory()
    {
        // The GC sees the cgroup limit; /proc/meminfo sees the host. A container is bounded by the smaller.
        long total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        long available = total;
        if (File.Exists("/proc/meminfo"))
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal) && MemInfoKb(line) is { } kb)
                {
                    available = Math.Min(available, kb * 1024);
                }
            }
        }

        const string cgroup = "/sys/fs/cgroup/";
        if (ReadLong(cgroup + "memory.max") is { } max && ReadLong(cgroup + "memory.current") is { } current)
        {
            available = Math.Min(available, Math.Max(0, max - current));
        }

        return (total, available);
    }

    private static long? MemInfoKb(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb : null;
    }

    private static long? ReadLong(string path)
    {
        try
        {
            return File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static (string Model, IReadOnlySet<string> Flags) Cpu()
    {
        string model = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
        var flags = new HashSet<string>(StringComparer.Ordinal);
        if (File.Exists("/proc/cpuinfo"))
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon < 0)
                {
                    continue;
                }

                var key = line[..colon].Trim();
                if (key == "model name" && flags.Count == 0)
                {
                    model = line[(colon + 1)..].Trim();
                }
                else if (key == "flags")
                {
                    flags.UnionWith(line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    break;
                }
            }
        }

        if (flags.Count == 0)
        {
            // Not Linux: what the JIT can use is the part that matters for .NET code; libtorch probes on its own.
            if (Avx2.IsSupported)
            {
                flags.Add("avx2");
            }

            if (Avx512F.IsSupported)
            {
                flags.Add("avx512f");
            }
        }

        return (model, flags);
    }
}
