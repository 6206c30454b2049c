using System.Diagnostics;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Benchmarks;

/// <summary>
/// The PreprocessBenchmarks cases timed per call in wall time and in process CPU time, printed in the same table
/// layout as tools/bench/preprocess_pillow.py. On a machine shared with other work, wall time mostly measures the
/// wait for a core; CPU time is what the work costs. Not a BenchmarkDotNet run: no statistics beyond mean/median.
/// </summary>
public static class PreprocessCpuTime
{
    public static void Run(string folder, double seconds)
    {
        var jpeg = File.ReadAllBytes(Path.Combine(folder, "photo1024.jpg"));
        var png = File.ReadAllBytes(Path.Combine(folder, "photo1024.png"));
        var processor = new Qwen2VLImageProcessor();
        var rgb = ImageDecoder.Decode(ImageInput.FromBytes(jpeg));
        Console.WriteLine($".NET {Environment.Version}, SkiaSharp decode, {(System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2" : "no AVX2")}");
        Console.WriteLine($"{"case",-26}{"mean ms",10}{"median ms",11}{"cpu med ms",12}{"n",6}");
        Case("decode jpg", () => ImageDecoder.Decode(ImageInput.FromBytes(jpeg)), seconds);
        Case("preprocess jpg", () => processor.Process(ImageInput.FromBytes(jpeg)), seconds);
        Case("decode png", () => ImageDecoder.Decode(ImageInput.FromBytes(png)), seconds);
        Case("preprocess png", () => processor.Process(ImageInput.FromBytes(png)), seconds);
        Case("resize+patchify rgb", () => processor.Process(rgb), seconds);
    }

    // Process.TotalProcessorTime counts clock ticks (10 ms on Linux); CLOCK_PROCESS_CPUTIME_ID is what Python's
    // time.process_time() reads.
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec value);

    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static double ProcessCpuMilliseconds()
    {
        if (!OperatingSystem.IsLinux() || ClockGetTime(2, out var ts) != 0)
        {
            return Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
        }

        return ts.Seconds * 1e3 + ts.Nanoseconds / 1e6;
    }

    private static void Case(string name, Func<object> work, double seconds)
    {
        for (int i = 0; i < 5; i++)
        {
            GC.KeepAlive(work());
        }

        var wall = new List<double>();
        var cpu = new List<double>();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed.TotalSeconds < seconds || wall.Count < 10)
        {
            double c0 = ProcessCpuMilliseconds();
            long t0 = Stopwatch.GetTimestamp();
            GC.KeepAlive(work());
            wall.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            cpu.Add(ProcessCpuMilliseconds() - c0);
        }

        wall.Sort();
        cpu.Sort();
        Console.WriteLine($"{name,-26}{wall.Average(),10:F2}{wall[wall.Count / 2],11:F2}{cpu[cpu.Count / 2],12:F2}{wall.Count,6}");
    }
}
