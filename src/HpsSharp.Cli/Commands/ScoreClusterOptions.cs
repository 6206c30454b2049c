using System.CommandLine;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps score --cluster redis://HOST:PORT --manifest FILE --out FILE [--job NAME] [--upload]</c>: the manifest is
/// scored by the cluster's workers; one output line per item; rerunning with the same job continues.
/// </summary>
internal sealed class ScoreClusterOptions
{
    private readonly Option<string?> _cluster = new("--cluster") { Description = "Score on a cluster (redis://HOST:PORT) instead of here; needs --manifest and --out" };
    private readonly Option<string> _clusterId = ClusterCommand.ClusterIdOption();
    private readonly Option<string?> _out = new("--out") { Description = "With --cluster: the JSONL output, one line per item (appended as items finish; a rerun continues it)" };
    private readonly Option<string?> _job = new("--job") { Description = "With --cluster: the job's name (the same name continues the job; default: from the manifest and model)" };
    private readonly Option<bool> _upload = new("--upload") { Description = "With --cluster: send the image bytes instead of letting the workers read the paths" };
    private readonly Option<string?> _fingerprint = new("--model-fingerprint") { Description = "With --cluster: the model the workers must run (default: the one every live worker runs)" };
    private readonly Option<int> _attempts = new("--max-attempts") { Description = "With --cluster: lost or crashed tries before an item becomes an error line", DefaultValueFactory = _ => 3 };
    private readonly Option<int> _lease = new("--lease-seconds") { Description = "With --cluster: how long a silent worker keeps its items before they are re-issued", DefaultValueFactory = _ => 30 };

    /// <summary>Adds the options and the rules that tie them together (usage errors, exit code 2).</summary>
    public void AddTo(Command cmd, Option<string> model, Option<string?> manifest, Option<bool> json)
    {
        foreach (var o in new Option[] { _cluster, _clusterId, _out, _job, _upload, _fingerprint, _attempts, _lease })
        {
            cmd.Options.Add(o);
        }

        _attempts.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--max-attempts must be at least 1");
            }
        });
        _lease.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 2)
            {
                r.AddError("--lease-seconds must be at least 2");
            }
        });
        model.Description = "Model folder (config.json, tokenizer files, HPSv3.safetensors or model.safetensors); not used with --cluster (the workers hold the model)";
        cmd.Validators.Add(r =>
        {
            bool cluster = r.GetValue(_cluster) is not null;
            if (!cluster && r.GetValue(model) is null)
            {
                r.AddError("Option '--model' is required (or --cluster to score on a cluster).");
            }

            if (cluster && (r.GetValue(manifest) is null || r.GetValue(_out) is null))
            {
                r.AddError("--cluster needs --manifest FILE.jsonl and --out FILE.jsonl.");
            }

            if (!cluster && (r.GetValue(_out) is not null || r.GetValue(_job) is not null || r.GetValue(_upload)))
            {
                r.AddError("--out, --job and --upload go with --cluster.");
            }
        });
        _json = json;
    }

    private Option<bool>? _json;

    /// <summary>True when the command line asks for the cluster.</summary>
    public bool Requested(ParseResult parse) => parse.GetValue(_cluster) is not null;

    /// <summary>Submits the manifest, writes the output as items finish, and says how it went.</summary>
    public async Task<int> RunAsync(ParseResult parse, CliEnvironment env, string manifest, CancellationToken ct)
    {
        var address = ClusterAddress.Parse(parse.GetValue(_cluster)!, parse.GetValue(_clusterId));
        var requests = ScoreInputs.FromManifest(manifest);
        if (requests.Count == 0)
        {
            throw new UserInputException(manifest, "the manifest has no items");
        }

        var outPath = parse.GetValue(_out)!;
        var connection = await ClusterConnection.ConnectAsync(address, ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var runner = new JobRunner(connection.Grains, line => env.Error.WriteLine(line), OptionFlags.Names);
            var submission = new JobSubmission(parse.GetValue(_job), requests, outPath, parse.GetValue(_upload), parse.GetValue(_fingerprint), parse.GetValue(_attempts), parse.GetValue(_lease));
            var summary = await ProgressReporter.RunAsync(env, "scoring on the cluster", p =>
                runner.RunAsync(submission, new Progress(p), ct)).ConfigureAwait(false);
            var perWorker = string.Join(", ", summary.ItemsPerWorker.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}: {kv.Value}"));
            env.Error.WriteLine($"job '{summary.Job}': {summary.Done} scored, {summary.Failed} failed of {summary.Total}; {summary.WrittenNow} line(s) written by this run to {outPath}" + (perWorker.Length > 0 ? $" ({perWorker})" : string.Empty));
            if (_json is not null && parse.GetValue(_json))
            {
                env.Out.WriteLine(ContractJson.Write(
                    new ClusterJobSummaryRecord(summary.Job, summary.Total, summary.Done, summary.Failed, outPath, summary.WrittenNow, summary.ItemsPerWorker),
                    ContractJson.Compact.ClusterJobSummaryRecord));
            }

            if (summary.Failed > 0)
            {
                env.ErrorConsole.MarkupLine($"[red]error:[/] {summary.Failed} of {summary.Total} item(s) could not be scored; their error lines are in {Markup.Escape(outPath)}");
                return CliApp.UserError;
            }

            return CliApp.Ok;
        }
    }

    /// <summary>Job progress as the shared progress display's done/total.</summary>
    private sealed class Progress(IProgress<ScoreProgress> inner) : IProgress<Cluster.Grains.JobProgress>
    {
        public void Report(Cluster.Grains.JobProgress value) => inner.Report(new ScoreProgress(value.Done + value.Failed, value.Total));
    }
}
