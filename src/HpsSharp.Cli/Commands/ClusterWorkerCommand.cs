using System.CommandLine;
using System.Net;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster;
using HpsSharp.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps cluster worker</c>: an Orleans silo that hosts one scorer and pulls work from the cluster's jobs.</summary>
internal static class ClusterWorkerCommand
{
    public static Command Create(CliEnvironment env)
    {
        var model = new ModelOptions();
        var cluster = ClusterCommand.ClusterOption(required: true);
        var clusterId = ClusterCommand.ClusterIdOption();
        var name = new Option<string?>("--name") { Description = "Worker name in status and output lines (default: HOST-PID)" };
        var siloPort = new Option<int>("--silo-port") { Description = "Silo-to-silo port (0: a free port)", DefaultValueFactory = _ => 11111 };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "Port clients connect to (0: a free port)", DefaultValueFactory = _ => 30000 };
        var advertise = new Option<string?>("--advertise") { Description = "IP address other machines reach this worker at (default: loopback when Redis is local, else this host's address)" };
        var leaseSize = new Option<int>("--lease-size") { Description = "Items taken from a job at a time (default: the batch size)" };
        var threads = new Option<int>("--threads") { Description = "CPU threads for the model (default: all cores)" };
        var fast = new Option<bool>("--fast-failure-detection") { Description = "Declare a silent worker dead after seconds instead of about half a minute (tests, one-host clusters)" };
        var kubernetes = new Option<bool>("--kubernetes") { Description = "Running in a Kubernetes pod: reads POD_NAME, POD_NAMESPACE, POD_IP and cleans up after dead pods (see docs/cluster.md)" };
        var drain = new Option<int>("--drain-seconds") { Description = "On SIGTERM, how long the current batch may still run before its items are handed back", DefaultValueFactory = _ => 120 };
        var cmd = new Command("worker", "Run a worker: an Orleans silo hosting one scorer that pulls items from the cluster's jobs (SIGTERM drains)");
        model.AddTo(cmd);
        foreach (var o in new Option[] { cluster, clusterId, name, siloPort, gatewayPort, advertise, leaseSize, threads, fast, drain, kubernetes })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            var address = ClusterAddress.Parse(parse.GetValue(cluster)!, parse.GetValue(clusterId));
            await address.ProbeAsync(ct).ConfigureAwait(false);
            IPAddress? advertised = null;
            if (parse.GetValue(advertise) is { } a && !IPAddress.TryParse(a, out advertised))
            {
                throw new UserInputException("--advertise", $"'{a}' is not an IP address");
            }

            if (parse.GetValue(threads) is > 0 and var n)
            {
                TorchSharp.torch.set_num_threads(n);
            }

            var scorerOptions = model.Read(parse);
            var options = new WorkerOptions(
                address,
                parse.GetValue(name) ?? WorkerOptions.DefaultName(),
                parse.GetValue(siloPort),
                parse.GetValue(gatewayPort),
                advertised,
                parse.GetValue(leaseSize) is > 0 and var ls ? ls : scorerOptions.BatchSize,
                parse.GetValue(fast),
                DrainTimeout: TimeSpan.FromSeconds(Math.Max(0, parse.GetValue(drain))),
                Kubernetes: parse.GetValue(kubernetes));
            using var scorer = model.Load(parse, env);
            using var host = WorkerHost.Build(options, scorer, logging => logging
                .AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.TimestampFormat = "HH:mm:ss ";
                })
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                .SetMinimumLevel(LogLevel.Information)
                .AddFilter("Orleans", LogLevel.Warning)
                .AddFilter("Microsoft", LogLevel.Warning)
                .AddFilter("Polly", LogLevel.Warning));
            env.Error.WriteLine($"worker {options.Name}: joining {address}");

            // The host stops (and drains) on SIGTERM/Ctrl+C through its console lifetime. The command line's own
            // signal handling gives up after two seconds and lets Main return, so process exit waits here for the
            // drain to finish instead of cutting it off.
            // Resolved before running: RunAsync disposes the host (and its services) when it ends.
            var loop = host.Services.GetServices<IHostedService>().OfType<WorkerLoop>().First();
            var run = host.RunAsync(CancellationToken.None);
            void WaitForDrain(object? sender, EventArgs e) => run.Wait(options.DrainTimeout!.Value + TimeSpan.FromSeconds(30));
            AppDomain.CurrentDomain.ProcessExit += WaitForDrain;
            try
            {
                await run.ConfigureAwait(false);
            }
            finally
            {
                AppDomain.CurrentDomain.ProcessExit -= WaitForDrain;
            }

            // The host stops when its loop fails (a bug in the scorer, not bad data): the command fails with it.
            if (loop.ExecuteTask is { IsFaulted: true } failed)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failed.Exception!.InnerException!).Throw();
            }

            return CliApp.Ok;
        });
        return cmd;
    }
}
