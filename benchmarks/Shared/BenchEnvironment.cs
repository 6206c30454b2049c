// Linked into each benchmark program: where the shared fixtures are, and what the machine is.
namespace HpsSharp.Benchmarks.Shared;

/// <summary>Finds the shared fixtures/assets folders: an environment variable, else <c>shared/NAME</c> beside or above the working directory.</summary>
internal static class Paths
{
    public static string Find(string variable, string name)
    {
        var env = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env))
        {
            return env;
        }

        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", name);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"shared/{name} not found above {Directory.GetCurrentDirectory()}; set {variable}");
    }
}

/// <summary>What the machine is and how loaded it is (the header of every benchmark output).</summary>
internal static class Machine
{
    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown CPU" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
