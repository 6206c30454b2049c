using System.CommandLine;
using System.Diagnostics;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cluster;
using HpsSharp.Core.Metrics;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Evaluation;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps eval</c>: preference accuracy of a model (or of precomputed scores) on a dataset, with the protocol
/// (tie policy, split, counts, preprocessing, checksum) and a 95% bootstrap interval printed with the number.
/// </summary>
public sealed class EvalCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var source = new ScoreSourceOptions("Precomputed scores: JSONL {\"image\", \"mu\"[, \"log_sigma\", \"prompt\"]} or `hps score --json` output; no model needed", cluster: true);
        var data = new Option<string>("--data") { Description = "Dataset file", Required = true };
        var format = new Option<string>("--format") { Description = "Dataset format (default: detected)" };
        format.AcceptOnlyFromAmong("hpdv3", "imagereward", "pickapic", "hpdv2", "jsonl");
        var images = new Option<string>("--images") { Description = "Image root; image paths in the dataset resolve under it and may not leave it (default: the dataset's folder)" };
        var split = new Option<string>("--split") { Description = "Split name printed in the protocol (default: the dataset file's name)" };
        var ties = new Option<string>("--tie-policy") { Description = "Predicted ties (equal μ): strict = wrong (the paper's), half, exclude", DefaultValueFactory = _ => "strict" };
        ties.AcceptOnlyFromAmong("strict", "half", "exclude");
        var gtTies = new Option<string>("--gt-ties") { Description = "Pairs humans judged a tie: listed (counted as listed, path1 preferred; the default for hpdv3, as evaluate.py), exclude (the default for every other format), half, match" };
        gtTies.AcceptOnlyFromAmong("listed", "exclude", "half", "match");
        var resamples = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for the 95% interval (0 = none)", DefaultValueFactory = _ => Bootstrap.DefaultResamples };
        resamples.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
            {
                r.AddError("--bootstrap must be 0 or more");
            }
        });
        var seed = new Option<int>("--seed") { Description = "Bootstrap seed", DefaultValueFactory = _ => 0 };
        var limit = new Option<long>("--limit") { Description = "Evaluate only the first N records (stated in the protocol)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout" };
        var report = new Option<string>("--report") { Description = "Write report.md, report.html (self-contained), result.json and PNG plots into this folder" };
        var calibration = new Option<string?>("--calibration") { Description = "calib.json from 'hps calibrate': the reward-hacking monitors add drift of mean μ against that reference set" };
        var cmd = new Command("eval", "Preference accuracy on a dataset with the paper's protocol (tie policy, split, counts and 95% interval printed)");
        foreach (var o in new Option[] { data, format, images, split, ties, gtTies, resamples, seed, limit, json, report, calibration })
        {
            cmd.Options.Add(o);
        }

        source.AddTo(cmd);
        var several = new EvalScorers();
        several.AddTo(cmd);
        source.SeveralScorers = several.Scorers;

        cmd.SetAction(async (parse, ct) =>
        {
            string dataPath = parse.GetValue(data)!;
            var dataset = EvalDataset.Open(dataPath, parse.GetValue(format) is { } f ? EvalDataset.ParseFormat(f) : null);
            string? imagesRoot = parse.GetValue(images);
            if (imagesRoot is not null && !Directory.Exists(imagesRoot))
            {
                throw new DirectoryNotFoundException($"--images: folder '{imagesRoot}' does not exist");
            }

            // Image paths resolve under --images, else under the dataset's folder; Pick-a-Pic holds its images.
            string effectiveRoot = Path.GetFullPath(imagesRoot ?? Path.GetDirectoryName(Path.GetFullPath(dataPath))!);

            var options = new EvalOptions
            {
                Ties = Enum.Parse<TiePolicy>(parse.GetValue(ties)!, ignoreCase: true),
                TruthTies = parse.GetValue(gtTies) is { } gt ? Enum.Parse<GroundTruthTiePolicy>(gt, ignoreCase: true) : null,
                BootstrapResamples = parse.GetValue(resamples),
                Seed = parse.GetValue(seed),
                Split = parse.GetValue(split),
                Limit = parse.GetValue(limit),
                ImagesRoot = dataset.Format == DatasetFormat.Pickapic || source.ScoresFile(parse) is not null ? null : effectiveRoot,
                Calibration = parse.GetValue(calibration) is { } cp ? Calibration.Load(cp) : null,
            };

            if (several.Requested(parse))
            {
                return await several.RunAsync(env, parse, source, dataset, options, effectiveRoot, parse.GetValue(json), parse.GetValue(report), ct).ConfigureAwait(false);
            }

            // The reward-hacking monitors' saturated-pixel share reads each image's pixels once, while it is read anyway.
            using var run = EvalConsole.OpenSource(env, source, effectiveRoot, parse, new PixelMonitor(options.Monitor));
            if (run.Source.Model is { } model)
            {
                ScoreCommand.WarnIfOtherModel(env, options.Calibration, model);
            }

            var result = await EvalConsole.WithProgress(env, "evaluating", p => Evaluator.RunAsync(dataset, run.Source, options, p, ct)).ConfigureAwait(false);

            return await EvalConsole.EmitAsync(env, parse.GetValue(json), parse.GetValue(report),
                dir => Reports.Write(result, dir), () => Reports.ToJson(result), () => Print(env, result)).ConfigureAwait(false);
        });
        return cmd;
    }

    private static void Print(CliEnvironment env, EvalResult r)
    {
        env.Console.MarkupLine($"[bold]{Markup.Escape(Reports.Headline(r))}[/]");
        EvalConsole.PrintProtocol(env, r.Protocol.ReleasedHpsv3, r.Protocol.Lines());
        if (r.MeanItemAccuracy is not null)
        {
            env.Console.WriteLine($"ranked items: {r.Items}; mean of per-item accuracies: {Reports.Percent(r.MeanItemAccuracy)}");
        }

        PrintGroups(env, "by category", r.ByCategory);
        PrintGroups(env, "by model pair", r.ByModelPair);
        if (r.Monitors is { } monitors)
        {
            var table = new Table { Title = new TableTitle("reward-hacking monitors") };
            table.AddColumns("monitor", "value", "fires when", "fires");
            foreach (var (name, value, when, fires) in Reports.MonitorRows(monitors))
            {
                table.AddRow(Markup.Escape(name), Markup.Escape(value), Markup.Escape(when), fires switch { true => "[red bold]yes[/]", false => "no", null => "-" });
            }

            env.Console.Write(table);
            env.Console.WriteLine(Reports.MonitorHeadline(monitors));
        }

        foreach (var p in r.Problems.Take(5))
        {
            env.Console.WriteLine($"problem: {p}");
        }
    }

    private static void PrintGroups(CliEnvironment env, string title, IReadOnlyList<GroupAccuracy> groups)
    {
        if (groups.Count == 0)
        {
            return;
        }

        var table = new Table { Title = new TableTitle(title) };
        table.AddColumns("group", "accuracy", "pairs", "correct", "predicted ties", "ground-truth ties");
        foreach (var g in groups)
        {
            table.AddRow(Markup.Escape(g.Name), Reports.Percent(g.Accuracy), g.Pairs.ToString(System.Globalization.CultureInfo.InvariantCulture), g.Correct.ToString(System.Globalization.CultureInfo.InvariantCulture),
                g.PredictedTies.ToString(System.Globalization.CultureInfo.InvariantCulture), g.TruthTies.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        env.Console.Write(table);
    }
}

/// <summary>Presentation shared by <c>hps eval</c> and <c>hps benchmark</c>.</summary>
internal static class EvalConsole
{
    /// <summary>A score source and what must be disposed with it.</summary>
    public sealed class Run(IScoreSource source, IDisposable? scorer, IDisposable? cache) : IDisposable
    {
        public IScoreSource Source { get; } = source;

        public void Dispose()
        {
            scorer?.Dispose();
            cache?.Dispose();
        }
    }

    /// <summary>
    /// The score source: a scores file or a model. With <paramref name="pixels"/>, each image's saturated-pixel share
    /// is measured for the monitors (a scores file's images only where they exist under <paramref name="imagesRoot"/>).
    /// </summary>
    public static Run OpenSource(CliEnvironment env, ScoreSourceOptions options, string imagesRoot, ParseResult parse, PixelMonitor? pixels = null)
    {
        if (options.ScoresFile(parse) is { } scoresFile)
        {
            var file = ScoresFileSource.Load(scoresFile);
            file.Pixels = pixels;
            file.ImagesRoot = pixels is null ? null : imagesRoot;
            return new Run(file, null, null);
        }

        var cachePath = options.CachePath(parse);
        IScorer scorer = options.ClusterAddress(parse) is { } address
            ? ClusterScorer.ConnectAsync(address, parse.GetValue(options.ModelFingerprint), "eval", line => env.Error.WriteLine(line)).GetAwaiter().GetResult()
            : options.Model.Load(parse, env);
        ScoreCache? cache = null;
        try
        {
            cache = cachePath is null ? null : new ScoreCache(cachePath);
            return new Run(new ModelScoreSource(scorer, cache, imagesRoot) { Pixels = pixels }, scorer, cache);
        }
        catch
        {
            scorer.Dispose();
            cache?.Dispose();
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> with a status line on a terminal, or a plain line every few seconds otherwise.</summary>
    public static async Task<T> WithProgress<T>(CliEnvironment env, string what, Func<IProgress<EvalProgress>, Task<T>> work)
    {
        if (env.Interactive)
        {
            return await env.ErrorConsole.Status().StartAsync(what + "…", async ctx =>
                await work(new SyncProgress<EvalProgress>(p => ctx.Status($"{what}: {p.Records} records read, {p.Scored} images scored"))).ConfigureAwait(false)).ConfigureAwait(false);
        }

        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        var progress = new SyncProgress<EvalProgress>(p =>
        {
            if (clock.Elapsed - last >= TimeSpan.FromSeconds(5))
            {
                last = clock.Elapsed;
                env.Error.WriteLine($"{what}: {p.Records} records read, {p.Scored} images scored ({clock.Elapsed.TotalSeconds:F0} s)");
            }
        });
        return await work(progress).ConfigureAwait(false);
    }

    /// <summary>
    /// The result on stdout (JSON or the console view) and, with <c>--report DIR</c>, the report files, whose page
    /// path goes to stderr so that stdout stays one JSON document.
    /// </summary>
    public static async Task<int> EmitAsync(CliEnvironment env, bool json, string? reportDir, Func<string, string> writeReport, Func<string> toJson, Action print)
    {
        string? html = reportDir is null ? null : writeReport(reportDir);
        if (json)
        {
            await env.Out.WriteLineAsync(toJson()).ConfigureAwait(false);
        }
        else
        {
            print();
        }

        if (html is not null)
        {
            env.Error.WriteLine($"report: {html}");
        }

        return CliApp.Ok;
    }

    /// <summary>The protocol block, preceded by a note when the scores are not the released HPSv3's.</summary>
    public static void PrintProtocol(CliEnvironment env, bool releasedHpsv3, IReadOnlyList<(string Label, string Value)> lines)
    {
        if (!releasedHpsv3)
        {
            env.Console.MarkupLine("[yellow]note:[/] these scores do not come from the released HPSv3 checkpoint");
        }

        var table = new Table { Title = new TableTitle("protocol") };
        table.AddColumns("", "");
        table.HideHeaders();
        foreach (var (label, value) in lines)
        {
            table.AddRow(Markup.Escape(label), Markup.Escape(value));
        }

        env.Console.Write(table);
    }
}
