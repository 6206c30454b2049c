using System.Globalization;

// Shared with benchmarks/HpsSharp.ModelBench (linked there), so both programs read memory the same way.

/// <summary>Samples RssAnon/RssFile every 2 ms; VmHWM is the kernel's own peak.</summary>
internal sealed class MemorySampler
{
    private volatile bool _stop;
    private Thread? _thread;

    public long MaxAnon { get; private set; }

    public long MaxFile { get; private set; }

    public void Start()
    {
        _thread = new Thread(() =>
        {
            while (!_stop)
            {
                MaxAnon = Math.Max(MaxAnon, Field("RssAnon"));
                MaxFile = Math.Max(MaxFile, Field("RssFile"));
                Thread.Sleep(2);
            }
        }) { IsBackground = true };
        _thread.Start();
    }

    public void Stop()
    {
        _stop = true;
        _thread?.Join();
    }

    /// <summary>A /proc/self/status field in kB.</summary>
    public static long Field(string name)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public static string Read() => string.Create(CultureInfo.InvariantCulture, $"RSS {Field("VmRSS") / 1e6:F2} GB (anon {Field("RssAnon") / 1e6:F2}, file {Field("RssFile") / 1e6:F2})");
}
