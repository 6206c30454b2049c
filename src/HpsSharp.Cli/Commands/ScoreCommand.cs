using System.CommandLine;
using System.Globalization;
using System.Text;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps score</c>: μ, log σ and σ for images and prompts.</summary>
public sealed class ScoreCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var model = new ModelOptions(required: false);
        var prompt = new Option<string?>("--prompt") { Description = "The prompt the images were generated for" };
        var manifest = new Option<string?>("--manifest") { Description = "JSONL file with {\"prompt\": ..., \"image\": ...} per line (paths relative to the file)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout" };
        var csv = new Option<bool>("--csv") { Description = "Print CSV on stdout" };
        var images = new Argument<string[]>("IMAGE") { Description = "Image files, or one folder whose images have .txt prompt sidecars", Arity = ArgumentArity.ZeroOrMore };
        var video = new Option<string[]>("--video") { Description = "Video file(s) to score frame by frame (with --prompt)", AllowMultipleArgumentsPerToken = true };
        var frames = new Option<int?>("--frames") { Description = "Video: score N frames evenly spaced over the clip (default 16)" };
        var stride = new Option<int?>("--stride") { Description = "Video: score every S-th frame instead" };
        var aggregate = new Option<string?>("--aggregate") { Description = "Video: mean | top_fraction:0.3 | min (default mean)" };
        var calibration = new Option<string?>("--calibration") { Description = "calib.json from 'hps calibrate': adds the percentile (0-100) beside μ" };
        var cmd = new Command("score", "Score images for a prompt: μ (the score), log σ and σ with HPSv3; the chosen scorer's score with --scorer");
        model.AddTo(cmd);
        cmd.Options.Add(prompt);
        cmd.Options.Add(manifest);
        cmd.Options.Add(json);
        cmd.Options.Add(csv);
        cmd.Arguments.Add(images);
        cmd.Options.Add(video);
        cmd.Options.Add(frames);
        cmd.Options.Add(stride);
        cmd.Options.Add(aggregate);
        cmd.Options.Add(calibration);
        var cluster = new ScoreClusterOptions();
        cluster.AddTo(cmd, model.Model, manifest, json);
        cmd.SetAction(async (parse, ct) =>
        {
            if (cluster.Requested(parse))
            {
                return await cluster.RunAsync(parse, env, parse.GetValue(manifest)!, ct).ConfigureAwait(false);
            }

            var calib = parse.GetValue(calibration) is { } cp ? Calibration.Load(cp) : null;
            if (parse.GetValue(video) is { Length: > 0 } videos)
            {
                if ((parse.GetValue(images) ?? []).Length > 0 || parse.GetValue(manifest) is not null)
                {
                    throw new UserInputException("--video", "score videos or images in one call, not both");
                }

                var (sampling, agg) = ScoreVideo.Options(parse.GetValue(frames), parse.GetValue(stride), parse.GetValue(aggregate));
                var videoPrompt = parse.GetValue(prompt) ?? throw new UserInputException("--prompt", "required with --video");
                using var videoScorer = model.Load(parse, env);
                WarnIfOtherModel(env, calib, videoScorer.Model);
                return await ScoreVideo.RunAsync(env, videoScorer, videos, videoPrompt, sampling, agg, calib, parse.GetValue(json), ct).ConfigureAwait(false);
            }

            var requests = Inputs(parse.GetValue(prompt), parse.GetValue(manifest), parse.GetValue(images) ?? []);
            using var scorer = model.Load(parse, env);
            WarnIfOtherModel(env, calib, scorer.Model);
            var scored = await ProgressReporter.RunAsync(env, "scoring", p => scorer.ScoreAsync(requests, p, ct)).ConfigureAwait(false);
            var results = scored.Select(r => r.Finite()).ToList();
            bool point = results.Any(r => r.Score is { HasUncertainty: false });
            if (parse.GetValue(json))
            {
                env.Out.WriteLine(ScoreJson(scorer.Model, results, calib));
            }
            else if (parse.GetValue(csv))
            {
                env.Out.Write(point ? PointCsv(scorer.Model.Scorer, results) : Csv(results));
            }
            else if (point)
            {
                var table = new Table().AddColumns("image", "prompt", scorer.Model.Scorer);
                foreach (var r in results)
                {
                    var prompt = r.Request.Prompt.Length > 40 ? r.Request.Prompt[..37] + "..." : r.Request.Prompt;
                    table.AddRow(Markup.Escape(r.Request.Image.Name), Markup.Escape(prompt), r.Score is { } s ? F(s.Mu) : "[red]error[/] " + Markup.Escape(r.Error ?? string.Empty));
                }

                env.Console.Write(table);
            }
            else
            {
                var table = new Table().AddColumns("image", "prompt", "μ", "log σ", "σ");
                table.Columns[0].NoWrap(); // a file name split over lines cannot be copied back
                if (calib is not null)
                {
                    table.AddColumn("percentile");
                }

                foreach (var r in results)
                {
                    var prompt = r.Request.Prompt.Length > 40 ? r.Request.Prompt[..37] + "..." : r.Request.Prompt;
                    string[] row =
                    [
                        Markup.Escape(r.Request.Image.Name),
                        Markup.Escape(prompt),
                        r.Score is { } s ? F(s.Mu) : "[red]error[/]",
                        r.Score is { } s2 ? F(s2.LogSigma) : Markup.Escape(r.Error ?? string.Empty),
                        r.Score is { } s3 ? F(s3.Sigma) : string.Empty,
                    ];
                    table.AddRow(calib is null ? row : [.. row, r.Score is { } s4 ? calib.Percentile(s4.Mu).ToString("0.0", CultureInfo.InvariantCulture) : string.Empty]);
                }

                env.Console.Write(table);
            }

            return ReportFailures(env, results);
        });
        return cmd;
    }

    /// <summary>Percentiles against a reference scored by another model mean nothing: say so (the numbers still print).</summary>
    internal static void WarnIfOtherModel(CliEnvironment env, Calibration? calibration, ModelInfo model)
    {
        if (calibration is not null && calibration.Fingerprint != model.Fingerprint)
        {
            env.ErrorConsole.MarkupLine($"[yellow]warning:[/] the calibration was made with {Markup.Escape(calibration.Model)} ({Markup.Escape(calibration.Fingerprint)}), not this model ({Markup.Escape(model.Fingerprint)}); its percentiles do not apply");
        }
    }

    /// <summary>The request list from exactly one input form.</summary>
    internal static IReadOnlyList<ScoreRequest> Inputs(string? prompt, string? manifest, string[] images)
    {
        if (manifest is not null)
        {
            if (images.Length > 0 || prompt is not null)
            {
                throw new UserInputException("--manifest", "use either --manifest or --prompt with images, not both");
            }

            return ScoreInputs.FromManifest(manifest);
        }

        if (images.Length == 1 && Directory.Exists(images[0]))
        {
            if (prompt is not null)
            {
                throw new UserInputException("--prompt", "a folder takes its prompts from .txt sidecars; do not pass --prompt with a folder");
            }

            return ScoreInputs.FromFolder(images[0]);
        }

        if (images.Length == 0)
        {
            throw new UserInputException("IMAGE", "give image files with --prompt, a folder with .txt sidecars, or --manifest FILE.jsonl");
        }

        if (prompt is null)
        {
            throw new UserInputException("--prompt", "required when images are given on the command line");
        }

        foreach (var i in images)
        {
            if (!File.Exists(i))
            {
                throw new FileNotFoundException($"image not found: {i}", i);
            }
        }

        return ScoreInputs.FromImages(prompt, images);
    }

    internal static int ReportFailures(CliEnvironment env, IReadOnlyList<ScoreResult> results)
    {
        int failed = results.Count(r => !r.Ok);
        if (failed == 0)
        {
            return CliApp.Ok;
        }

        env.ErrorConsole.MarkupLine($"[red]error:[/] {failed} of {results.Count} image(s) could not be scored");
        foreach (var r in results.Where(r => !r.Ok))
        {
            env.Error.WriteLine($"  {r.Request.Image.Name}: {r.Error}");
        }

        return CliApp.UserError;
    }

    /// <summary>The <c>--json</c> document: the model, then one item per result in input order.</summary>
    internal static string ScoreJson(ModelInfo model, IReadOnlyList<ScoreResult> results, Calibration? calibration = null) =>
        ContractJson.Write(new ScoreDocument(ModelRecord.From(model), [.. results.Select(r => ScoreItem.From(r, model.Scorer, calibration))]), ContractJson.Indented.ScoreDocument);

    /// <summary>CSV for a scorer without σ: <c>image,prompt,score,scorer,error</c>.</summary>
    private static string PointCsv(string scorer, IReadOnlyList<ScoreResult> results)
    {
        var sb = new StringBuilder("image,prompt,score,scorer,error\n");
        foreach (var r in results)
        {
            sb.Append(Q(r.Request.Image.Name)).Append(',').Append(Q(r.Request.Prompt)).Append(',')
                .Append(r.Score is { } s ? s.Mu.ToString("R", CultureInfo.InvariantCulture) : string.Empty).Append(',')
                .Append(scorer).Append(',').Append(r.Score is null ? Q(r.Error ?? string.Empty) : string.Empty).Append('\n');
        }

        return sb.ToString();

        static string Q(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    private static string Csv(IReadOnlyList<ScoreResult> results)
    {
        var sb = new StringBuilder("image,prompt,mu,log_sigma,sigma,error\n");
        foreach (var r in results)
        {
            sb.Append(Q(r.Request.Image.Name)).Append(',').Append(Q(r.Request.Prompt)).Append(',');
            if (r.Score is { } s)
            {
                sb.Append(R(s.Mu)).Append(',').Append(R(s.LogSigma)).Append(',').Append(R(s.Sigma)).Append(",\n");
            }
            else
            {
                sb.Append(",,,").Append(Q(r.Error ?? string.Empty)).Append('\n');
            }
        }

        return sb.ToString();

        static string Q(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    }

    internal static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
}
