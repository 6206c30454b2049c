using System.CommandLine;
using System.Globalization;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Evaluation;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps benchmark</c>: per-model, per-category mean scores of generated images (folders per model with
/// <c>.txt</c> prompt sidecars) and their agreement with a human reference ranking.
/// </summary>
public sealed class BenchmarkCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var source = new ScoreSourceOptions("Precomputed scores, JSONL {\"image\": \"MODEL/[CATEGORY/]x.png\", \"mu\"}; no model needed");
        var root = new Option<string>("--root") { Description = "Benchmark folder: ROOT/MODEL/[CATEGORY/]x.png with the prompt in x.txt", Required = true };
        var reference = new Option<string>("--reference") { Description = "Human reference JSON {\"model\": score} (default: the HPSv3 paper's ten-model table)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout" };
        var report = new Option<string>("--report") { Description = "Write report.md, report.html (self-contained), result.json and PNG plots into this folder" };
        var cmd = new Command("benchmark", "Rank text-to-image models by mean score per category; Spearman / Kendall / normalised MSE against human annotation");
        foreach (var o in new Option[] { root, reference, json, report })
        {
            cmd.Options.Add(o);
        }

        source.AddTo(cmd);

        cmd.SetAction(async (parse, ct) =>
        {
            string rootDir = parse.GetValue(root)!;
            if (!Directory.Exists(rootDir))
            {
                throw new DirectoryNotFoundException($"--root: folder '{rootDir}' does not exist");
            }

            var human = parse.GetValue(reference) is { } refPath ? HumanReference.Load(refPath) : HumanReference.Paper;
            using var run = EvalConsole.OpenSource(env, source, rootDir, parse);
            var result = await EvalConsole.WithProgress(env, "benchmark", p => BenchmarkRunner.RunAsync(rootDir, run.Source, human, progress: p, cancellationToken: ct)).ConfigureAwait(false);
            return await EvalConsole.EmitAsync(env, parse.GetValue(json), parse.GetValue(report),
                dir => Reports.Write(result, dir), () => Reports.ToJson(result), () => Print(env, result)).ConfigureAwait(false);
        });
        return cmd;
    }

    private static void Print(CliEnvironment env, BenchmarkResult r)
    {
        env.Console.MarkupLine($"[bold]{Markup.Escape(Reports.CorrelationLine(r.Correlation))}[/]");
        EvalConsole.PrintProtocol(env, r.Protocol.ReleasedHpsv3, r.Protocol.Lines());
        var cats = r.Models.SelectMany(m => m.Categories.Select(c => c.Category)).Distinct().Order(StringComparer.Ordinal).ToArray();
        var table = new Table { Title = new TableTitle("mean μ per model (All = mean of category means)") };
        table.AddColumns(new[] { "model", "All", "human ref." }.Concat(cats.Select(Markup.Escape)).ToArray());
        foreach (var m in r.Models)
        {
            table.AddRow(new[] { Markup.Escape(m.Model), Reports.Num(m.Overall, 2), Reports.Num(m.HumanReference, 2) }
                .Concat(cats.Select(c => Reports.Num(m.Categories.FirstOrDefault(x => x.Category == c)?.Mean, 2))).ToArray());
        }

        env.Console.Write(table);
        foreach (var p in r.Problems.Take(5))
        {
            env.Console.WriteLine($"problem: {p}");
        }

        env.Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Protocol.Images} images, {r.Models.Count} models"));
    }
}
