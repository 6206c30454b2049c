using BenchmarkDotNet.Running;

// Run with: dotnet run -c Release --project benchmarks/HpsSharp.Benchmarks -- --filter '*'
// `-- preprocess-cpu DIR [seconds]`: the preprocess cases timed in process CPU time (robust on a shared machine).
if (args.Length >= 2 && args[0] == "preprocess-cpu")
{
    HpsSharp.Benchmarks.PreprocessCpuTime.Run(args[1], args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
