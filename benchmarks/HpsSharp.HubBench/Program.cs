using System.Diagnostics;
using System.Globalization;
using HpsSharp.Core.Safetensors;
using HpsSharp.Hub;
using HpsSharp.Hub.Checkpoints;
using HpsSharp.Hub.Tests;

// Usage: dotnet run -c Release --project benchmarks/HpsSharp.HubBench [-- SIZE_MB]
//        dotnet run -c Release --project benchmarks/HpsSharp.HubBench -- serve SIZE_MB   (a fake hub for `hps model download --endpoint`)
if (args.Length == 2 && args[0] == "serve")
{
    var weights = new byte[int.Parse(args[1], CultureInfo.InvariantCulture) * (1L << 20)];
    new Random(2).NextBytes(weights);
    await using var served = await FakeHub.StartAsync();
    served.Add(ModelDownloader.HpsRepo, "HPSv3.safetensors", weights, lfs: true, "1111111111111111111111111111111111111111");
    foreach (var name in ModelDownloader.RequiredBaseFiles.Concat(ModelDownloader.TokenizerFiles).Concat(ModelDownloader.OptionalBaseFiles))
    {
        served.Add(ModelDownloader.QwenRepo, name, System.Text.Encoding.UTF8.GetBytes("{}"), lfs: false, "2222222222222222222222222222222222222222");
    }

    Console.WriteLine(served.Endpoint);
    await Task.Delay(Timeout.Infinite);
}

int sizeMb = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1024;
var work = Path.Combine(Path.GetTempPath(), "hps-hubbench-" + Guid.NewGuid().ToString("N")[..8]);
Directory.CreateDirectory(work);
const string Commit = "0123456789abcdef0123456789abcdef01234567";
try
{
    var content = new byte[sizeMb * (1L << 20)];
    new Random(1).NextBytes(content);
    await using var hub = await FakeHub.StartAsync();
    var file = hub.Add("MizzenAI/HPSv3", "HPSv3.safetensors", content, lfs: true, Commit);
    HubClient Client(string cache) => new(new HubOptions { Endpoint = hub.Endpoint, CacheDir = Path.Combine(work, cache), HfHome = work, RetryBaseDelay = TimeSpan.FromMilliseconds(50) });

    Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    Console.WriteLine($"file: {sizeMb} MiB, LFS (sha256 checked)");

    using (var c = Client("a"))
    {
        var sw = Stopwatch.StartNew();
        await c.DownloadAsync("MizzenAI/HPSv3", "HPSv3.safetensors");
        Report("download over loopback (incl. SHA-256)", content.Length, sw.Elapsed);
        sw.Restart();
        await c.DownloadAsync("MizzenAI/HPSv3", "HPSv3.safetensors", verify: true);
        Report("--verify of the cached blob (read + SHA-256)", content.Length, sw.Elapsed);
    }

    using (var c = Client("b"))
    {
        file.DropCount = 3;
        file.DropAfter = content.Length / 4;
        var sw = Stopwatch.StartNew();
        await c.DownloadAsync("MizzenAI/HPSv3", "HPSv3.safetensors");
        Report("download with 3 dropped connections (resumed)", content.Length, sw.Elapsed);
    }

    var sparse = Path.Combine(work, "HPSv3-7B-headers.safetensors");
    Checkpoints.WriteSparse(sparse, Checkpoints.ReleasedTable());
    var isw = Stopwatch.StartNew();
    var report = CheckpointInspector.Inspect(sparse);
    Console.WriteLine($"inspect of a 16.6 GB 7B checkpoint (header only, {report.Tensors.Count} tensors, check ok={report.Released.Ok}): {isw.Elapsed.TotalMilliseconds:0} ms");

    var bf16 = Path.Combine(work, "bf16.safetensors");
    int rows = (int)(content.Length / 2 / 4096);
    Checkpoints.WriteSparse(bf16, [("model.embed_tokens.weight", SafetensorsDtype.BF16, [rows, 4096])]);
    foreach (var (name, opts) in new[] { ("convert BF16 -> F32 (sparse input, written output)", new ConvertOptions { Dtype = TargetDtype.F32 }),
        ("convert layout only, BF16 kept, 256 MB shards", new ConvertOptions { Layout = TargetLayout.LanguageModel, MaxShardBytes = 256_000_000 }) })
    {
        var outDir = Path.Combine(work, "conv-" + Guid.NewGuid().ToString("N")[..6]);
        GC.Collect();
        var sw = Stopwatch.StartNew();
        var plan = CheckpointConverter.Convert(bf16, outDir, opts);
        Report(name, plan.TotalBytes, sw.Elapsed);
        Directory.Delete(outDir, true);
    }

    using var self = Process.GetCurrentProcess();
    self.Refresh();
    Console.WriteLine($"peak working set of this process: {self.PeakWorkingSet64 / (1 << 20)} MiB (includes the fake hub's {sizeMb} MiB in-memory file)");
}
finally
{
    Directory.Delete(work, true);
}

static void Report(string what, long bytes, TimeSpan t) =>
    Console.WriteLine($"{what}: {t.TotalSeconds:0.00} s, {bytes / t.TotalSeconds / 1e6:0} MB/s");
