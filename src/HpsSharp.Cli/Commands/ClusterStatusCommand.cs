using System.CommandLine;
using System.Text;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster;
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

    internal static string Json(ClusterSnapshot snapshot)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("workers");
            foreach (var s in snapshot.Workers)
            {
                w.WriteStartObject();
                w.WriteString("name", s.Worker.Name);
                w.WriteString("model", s.Worker.Fingerprint);
                w.WriteString("model_name", s.Worker.ModelName);
                w.WriteString("dtype", s.Worker.Dtype);
                w.WriteNumber("items_done", s.ItemsDone);
                w.WriteBoolean("busy", s.Busy);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("jobs");
            foreach (var j in snapshot.Jobs)
            {
                w.WriteStartObject();
                w.WriteString("job", j.Job);
                w.WriteNumber("done", j.Done);
                w.WriteNumber("total", j.Total);
                w.WriteNumber("failed", j.Failed);
                w.WriteNumber("leased", j.Leased);
                w.WriteBoolean("complete", j.Complete);
                w.WriteString("model", j.Fingerprint);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
