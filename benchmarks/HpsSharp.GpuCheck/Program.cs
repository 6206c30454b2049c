using System.Globalization;
using HpsSharp.Modeling.Gpu;

// hps-gpu-check FIXTURE_DIR [--device cuda] [--iterations N] [--batch N] [--json FILE] [--skip-7b]
// Exit 0 when every parity check passes, 1 otherwise; the 7B timings are printed (and appended to --json as lines).
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: hps-gpu-check FIXTURE_DIR(hpsv3-tiny) [--device cuda] [--iterations 10] [--batch 4] [--json FILE] [--skip-7b]");
    return args.Length == 0 ? 2 : 0;
}

string fixture = args[0], device = "cuda";
int iterations = 10, batch = 4;
string? json = null;
bool skip7b = false;
for (int i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--device": device = args[++i]; break;
        case "--iterations": iterations = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--batch": batch = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--json": json = args[++i]; break;
        case "--skip-7b": skip7b = true; break;
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
    }
}

if (device.StartsWith("cuda", StringComparison.Ordinal) && GpuChecks.CudaUnavailableReason() is { } why)
{
    Console.Error.WriteLine($"gpu-check: {why}");
    return 1;
}

Console.WriteLine($"gpu-check: TorchSharp libtorch {TorchSharp.torch.__version__}, device {device}, CUDA devices {(device.StartsWith("cuda", StringComparison.Ordinal) ? TorchSharp.torch.cuda.device_count() : 0)}");
var parity = GpuChecks.TinyParity(fixture, device);
foreach (var p in parity)
{
    Console.WriteLine(p);
}

if (!skip7b)
{
    foreach (var dtype in new[] { "bf16" })
    {
        var t = GpuChecks.Throughput7B(device, dtype, batch, iterations);
        Console.WriteLine(t);
        if (json is not null)
        {
            File.AppendAllText(json, t.ToJson() + Environment.NewLine);
        }
    }
}

int failed = parity.Count(p => !p.Ok);
Console.WriteLine(failed == 0 ? "gpu-check: parity ok" : $"gpu-check: {failed} parity check(s) failed");
return failed == 0 ? 0 : 1;
