using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster;
using HpsSharp.Core.Scoring.Contracts;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps cluster status</c>: the live workers and every job's progress.</summary>
internal static class ClusterStatusCommand
{
    public static Command Create(CliEnvironment env)
    {
        var cluster = ClusterCommand.ClusterOption(required: true);
        var clusterId = ClusterCommand.ClusterIdOption();
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout" };
        var cmd = new Command("status", "List the cluster's workers (model, items done, busy) and jobs (done / total / failed)")
        {
            cluster, clusterId, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var address = ClusterAddress.Parse(parse.GetValue(cluster)!, parse.GetValue(clusterId));
            var connection = await ClusterConnection.ConnectAsync(address, ct).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var snapshot = await ClusterSnapshot.ReadAsync(connection.Grains).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    env.Out.WriteLine(Json(snapshot));
                    return CliApp.Ok;
                }

                var workers = new Table().AddColumns("worker", "model", "dtype", "fingerprint", "items done", "busy");
                foreach (var w in snapshot.Workers)
                {
                    workers.AddRow(Markup.Escape(w.Worker.Name), Markup.Escape(w.Worker.ModelName), w.Worker.Dtype, w.Worker.Fingerprint, w.ItemsDone.ToString(System.Globalization.CultureInfo.InvariantCulture), w.Busy ? "yes" : "no");
                }

                var jobs = new Table().AddColumns("job", "done", "failed", "leased", "total", "state");
                foreach (var j in snapshot.Jobs)
                {
                    jobs.AddRow(Markup.Escape(j.Job), N(j.Done), N(j.Failed), N(j.Leased), N(j.Total), j.Complete ? "complete" : j.Sealed ? "running" : "submitting");
                }

                env.Console.WriteLine($"cluster {address}: {snapshot.Workers.Count} worker(s), {snapshot.Jobs.Count} job(s)");
                env.Console.Write(workers);
                env.Console.Write(jobs);
                return CliApp.Ok;
            }
        });
        return cmd;
    }

    private static string N(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    internal static string Json(ClusterSnapshot snapshot) => ContractJson.Write(
        new ClusterStatusDocument(
            [.. snapshot.Workers.Select(s => new ClusterWorkerRecord(s.Worker.Name, s.Worker.Fingerprint, s.Worker.ModelName, s.Worker.Dtype, s.ItemsDone, s.Busy))],
            [.. snapshot.Jobs.Select(j => new ClusterJobRecord(j.Job, j.Done, j.Total, j.Failed, j.Leased, j.Complete, j.Fingerprint))]),
        ContractJson.Indented.ClusterStatusDocument);
}
