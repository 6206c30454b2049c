using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cohp;
using HpsSharp.Cohp.Generators;
using HpsSharp.Core;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps cohp</c>: Chain-of-Human-Preference over the generation servers of a generators file.</summary>
public sealed class CohpCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var prompt = new Option<string>("--prompt") { Description = "The text prompt", Required = true };
        var generators = new Option<string>("--generators") { Description = "Generators file (JSON array of {name, kind: a1111|comfyui, url, ...})", Required = true };
        var model = new ModelOptions();
        var outDir = new Option<string>("--out") { Description = "Run folder (rerun the same command to continue an interrupted run)", Required = true };
        var use = new Option<string[]>("--use") { Description = "Use only these generators (names; repeat or separate with commas)", AllowMultipleArgumentsPerToken = true };
        var images = new Option<int>("--images-per-generator") { Description = "Images per generator in the model stage", DefaultValueFactory = _ => 2 };
        var rounds = new Option<int>("--rounds") { Description = "Refinement (img2img) rounds", DefaultValueFactory = _ => 4 };
        var candidates = new Option<int>("--candidates") { Description = "img2img candidates per round", DefaultValueFactory = _ => 4 };
        var strengths = new Option<string[]>("--strengths") { Description = "Strength per round (the last repeats); default 0.8,0.8,0.8,0.5 as the upstream code (its README says 0.8,0.8,0.5,0.5)", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<long?>("--seed") { Description = "Base seed (every image's seed derives from it); default: the folder's earlier run, else random" };
        var threshold = new Option<double>("--threshold") { Description = "Initial best-so-far score a round must beat (upstream: 0)", DefaultValueFactory = _ => 0 };
        var startCompetes = new Option<bool>("--start-competes") { Description = "The model-stage image's score is the initial best-so-far (instead of --threshold)" };
        var earlyStop = new Option<bool>("--early-stop") { Description = "Stop after the first round that brings no gain (off upstream)" };
        var json = new Option<bool>("--json") { Description = "Print run.json to stdout" };

        var cmd = new Command("cohp", "Chain-of-Human-Preference: pick the best generator, then refine its best image by img2img rounds, judged by HPSv3 (or --scorer)");
        cmd.Options.Add(prompt);
        cmd.Options.Add(generators);
        model.AddTo(cmd);
        foreach (var o in new Option[] { outDir, use, images, rounds, candidates, strengths, seed, threshold, startCompetes, earlyStop, json })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(async (parse, ct) =>
        {
            string promptText = parse.GetValue(prompt)!;
            if (string.IsNullOrWhiteSpace(promptText))
            {
                throw new UserInputException("--prompt", "is empty");
            }

            string outPath = Path.GetFullPath(parse.GetValue(outDir)!);
            var specs = GeneratorsFile.Load(parse.GetValue(generators)!);
            var previous = RunFolder.TryLoad(outPath);
            if (previous is not null && previous.Prompt != promptText)
            {
                throw new UserInputException("--out", $"'{outPath}' holds a CoHP run for another prompt (\"{previous.Prompt}\"); choose another folder");
            }

            long baseSeed = parse.GetValue(seed) ?? previous?.Settings.Seed ?? RandomNumberGenerator.GetInt32(int.MaxValue);
            var options = new CohpOptions
            {
                ImagesPerGenerator = parse.GetValue(images),
                Rounds = parse.GetValue(rounds),
                CandidatesPerRound = parse.GetValue(candidates),
                Strengths = ParseStrengths(parse.GetValue(strengths)) ?? new CohpOptions().Strengths,
                Seed = baseSeed,
                Threshold = parse.GetValue(threshold),
                StartCompetes = parse.GetValue(startCompetes),
                EarlyStop = parse.GetValue(earlyStop),
                Generators = parse.GetValue(use)?.SelectMany(u => u.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList(),
            };
            options.Validate();

            bool asJson = parse.GetValue(json);
            env.Error.WriteLine($"cohp: {specs.Count} generator(s) from {parse.GetValue(generators)}; seed {baseSeed}; run folder {outPath}");
            using var scorer = model.Load(parse, env);
            var backends = specs.Select(s => GeneratorFactory.Create(s)).ToList();
            try
            {
                var runner = new CohpRunner(scorer, backends);

                // A bar whose label is the current step on a terminal (not with --json); otherwise a line per step.
                var run = await ProgressReporter.RunAsync(env, new ProgressView<CohpProgress>
                {
                    Title = "CoHP",
                    Label = p => p.Message.Length > 70 ? p.Message[..70] + "…" : p.Message,
                    Done = p => p.Done,
                    Total = p => p.Total,
                    Line = (p, _) => $"[{p.Done}/{p.Total}] {p.Message}",
                }, progress => runner.RunAsync(promptText, outPath, options, progress, ct), bars: env.Interactive && !asJson).ConfigureAwait(false);

                if (asJson)
                {
                    env.Out.WriteLine(run.ToJson());
                }
                else
                {
                    Summarize(env, run, outPath);
                }

                if (run.Status == "partial")
                {
                    env.ErrorConsole.MarkupLine($"[yellow]warning:[/] {Markup.Escape($"refinement stopped: {run.Error}; the result is the best image so far. Rerun the same command to continue.")}");
                }

                return CliApp.Ok;
            }
            finally
            {
                foreach (var b in backends)
                {
                    b.Dispose();
                }
            }
        });
        return cmd;
    }

    private static List<double>? ParseStrengths(string[]? tokens)
    {
        if (tokens is null || tokens.Length == 0)
        {
            return null;
        }

        var values = new List<double>();
        foreach (var t in tokens.SelectMany(t => t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                throw new UserInputException("--strengths", $"'{t}' is not a number");
            }

            values.Add(v);
        }

        return values;
    }

    private static void Summarize(CliEnvironment env, CohpRun run, string outPath)
    {
        string F(double? x) => x is double v ? v.ToString("0.###", CultureInfo.InvariantCulture) : "—";
        var stage = new Table().AddColumns("generator", "images (μ)", "mean μ", "");
        foreach (var e in run.ModelStage)
        {
            stage.AddRow(
                Markup.Escape(e.Generator),
                Markup.Escape(string.Join(", ", e.Images.Select(i => F(i.Mu)))),
                F(e.MeanMu),
                e.Error is not null ? $"[red]failed: {Markup.Escape(e.Error)}[/]" : e.Generator == run.ChosenGenerator ? "[green]chosen[/]" : string.Empty);
        }

        env.Console.Write(stage);
        var rounds = new Table().AddColumns("round", "strength", "source", "best μ", "kept");
        foreach (var r in run.Rounds)
        {
            rounds.AddRow(
                r.Round.ToString(CultureInfo.InvariantCulture),
                F(r.Strength),
                Markup.Escape(r.Source),
                F(r.BestMu),
                r.Error is not null ? $"[red]failed: {Markup.Escape(r.Error)}[/]" : Markup.Escape(r.Kept ?? "— (none beat the best so far)"));
        }

        if (run.Rounds.Count > 0)
        {
            env.Console.Write(rounds);
        }

        env.Console.MarkupLine($"start: {Markup.Escape(run.Start?.File ?? "—")} (μ {F(run.Start?.Mu)}) from {Markup.Escape(run.ChosenGenerator ?? "—")}");
        env.Console.MarkupLine($"final: {Markup.Escape(run.Final?.File ?? "—")} (μ {F(run.Final?.Mu)}), copied to {Markup.Escape(Path.Combine(outPath, run.Final?.Copy ?? string.Empty))}");
        env.Console.MarkupLine($"images: {run.Counts.Generated} generated, {run.Counts.Reused} reused; page: {Markup.Escape(Path.Combine(outPath, RunFolder.IndexHtml))}");
    }
}
