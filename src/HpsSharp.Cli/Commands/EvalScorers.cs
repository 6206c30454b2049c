using System.CommandLine;
using System.Globalization;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Evaluation;
using HpsSharp.Modeling.Scorers;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps eval --scorers a,b,c</c>: the paper's comparison. Each scorer is evaluated in turn on the same dataset
/// with the same protocol (loaded, run through the shared score cache, disposed, so one model is in memory at a
/// time), and the results go side by side in one table with the paper's number for each scorer where it gives one.
/// </summary>
internal sealed class EvalScorers
{
    /// <summary>The scorers to compare.</summary>
    public Option<string?> Scorers { get; } = new("--scorers")
    {
        Description = "Compare several scorers on the dataset, e.g. hpsv3,pickscore,hpsv2: one table with each one's accuracy, 95% interval and the paper's number (the first scorer's folder is --model unless --model-for names one)",
    };

    /// <summary>Each scorer's model folder.</summary>
    public Option<string[]> ModelFor { get; } = new("--model-for") { Description = "NAME=DIR: the model folder of one of --scorers (repeat per scorer)" };

    /// <summary>Precomputed scores for a scorer instead of its model.</summary>
    public Option<string[]> ScoresFor { get; } = new("--scores-for") { Description = "NAME=FILE: precomputed scores of one of --scorers (the --scores format) instead of its model" };

    public void AddTo(Command command)
    {
        command.Options.Add(Scorers);
        command.Options.Add(ModelFor);
        command.Options.Add(ScoresFor);
    }

    /// <summary>Usage errors for the per-scorer options without --scorers; true when --scorers was given.</summary>
    public bool Requested(ParseResult parse)
    {
        if (parse.GetValue(Scorers) is not null)
        {
            return true;
        }

        if (parse.GetValue(ModelFor) is { Length: > 0 } || parse.GetValue(ScoresFor) is { Length: > 0 })
        {
            throw new UsageException("--model-for and --scores-for go with --scorers (the scorers to compare)");
        }

        return false;
    }

    /// <summary>Evaluates each scorer and writes the comparison (console, --json, --report).</summary>
    public async Task<int> RunAsync(CliEnvironment env, ParseResult parse, ScoreSourceOptions source, EvalDataset dataset, EvalOptions options, string imagesRoot, bool json, string? reportDir, CancellationToken ct)
    {
        var names = NamedPaths.ScorerNames(parse.GetValue(Scorers)!, "--scorers");
        if (parse.GetResult(source.Model.Scorer) is { Implicit: false })
        {
            throw new UsageException("give either --scorer (one) or --scorers (several), not both");
        }

        if (source.ScoresFile(parse) is not null)
        {
            throw new UsageException("--scores goes with one scorer; with --scorers give --scores-for NAME=FILE");
        }

        if (source.ClusterAddress(parse) is not null)
        {
            throw new UsageException("--scorers does not go with --cluster (the workers hold one model)");
        }

        if (options.Calibration is not null)
        {
            throw new UsageException("--calibration goes with one scorer (a calibration belongs to one model)");
        }

        var folders = NamedPaths.Parse(parse.GetValue(ModelFor), "--model-for", names);
        var files = NamedPaths.Parse(parse.GetValue(ScoresFor), "--scores-for", names);
        string? model = parse.GetValue(source.Model.Model);
        var plan = new List<(string Name, string? Dir, string? Scores)>();
        for (int i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (folders.ContainsKey(name) && files.ContainsKey(name))
            {
                throw new UsageException($"--scorers: '{name}' has both --model-for and --scores-for; give one");
            }

            string? dir = folders.GetValueOrDefault(name) ?? (files.ContainsKey(name) ? null : i == 0 ? model : null);
            if (dir is null && !files.ContainsKey(name))
            {
                throw new UsageException($"--scorers: '{name}' needs its model folder (--model-for {name}=DIR) or its scores (--scores-for {name}=FILE)");
            }

            if (dir is not null && !Directory.Exists(dir))
            {
                throw new DirectoryNotFoundException($"--model-for {name}: folder not found: {dir}");
            }

            plan.Add((name, dir, files.GetValueOrDefault(name)));
        }

        // Scores files are read before any model runs, so a bad one fails in a second, not after an hour of scoring.
        var loaded = new Dictionary<string, ScoresFileSource>(StringComparer.Ordinal);
        foreach (var (name, file) in files)
        {
            loaded[name] = ScoresFileSource.Load(file);
        }

        if (model is not null && !plan.Any(p => p.Dir == model))
        {
            throw new UsageException($"--model is not used: --model-for names a folder for the first scorer ({names[0]})");
        }

        var cachePath = source.CachePath(parse);
        using var cache = cachePath is null || plan.All(p => p.Dir is null) ? null : new ScoreCache(cachePath);
        var results = new List<(string, EvalResult)>();
        foreach (var (name, dir, scoresFile) in plan)
        {
            IScoreSource scoreSource;
            IScorer? scorer = null;
            if (scoresFile is not null)
            {
                scoreSource = loaded[name];
            }
            else
            {
                // HPSv3 takes --dtype/--device; the baselines run in fp32 on the CPU (as hps serve --scorers loads them).
                var m = source.Model;
                bool isHps = name == ScorerRegistry.Default;
                scorer = ModelOptions.Load(new ScorerOptions(dir!, isHps ? parse.GetValue(m.Dtype) : Precision.Fp32, isHps ? parse.GetValue(m.Device) : DeviceSpec.Cpu, parse.GetValue(m.BatchSize), parse.GetValue(m.Deterministic))
                {
                    Scorer = name,
                    TokenizerDir = parse.GetValue(m.TokenizerDir),
                    Antialias = !parse.GetValue(m.NoAntialias),
                    CaptionPrefix = parse.GetValue(m.CaptionPrefix) ?? string.Empty,
                }, env);
                scoreSource = new ModelScoreSource(scorer, cache, imagesRoot);
            }

            try
            {
                var run = options with { ImagesRoot = scoresFile is not null || dataset.Format == DatasetFormat.Pickapic ? null : options.ImagesRoot };
                var result = await EvalConsole.WithProgress(env, $"evaluating {name}", p => Evaluator.RunAsync(dataset, scoreSource, run, p, ct)).ConfigureAwait(false);
                results.Add((name, result));
                env.Error.WriteLine($"{name}: {Reports.Headline(result)}");
            }
            finally
            {
                scorer?.Dispose();
            }
        }

        var comparison = EvalComparison.From(results);
        return await EvalConsole.EmitAsync(env, json, reportDir, dir => Reports.Write(comparison, dir), () => Reports.ToJson(comparison), () => Print(env, comparison)).ConfigureAwait(false);
    }

    private static void Print(CliEnvironment env, EvalComparison c)
    {
        env.Console.MarkupLine($"[bold]{Markup.Escape(Reports.Headline(c))}[/]");
        var table = new Table { Title = new TableTitle("scorers side by side") };
        foreach (var h in Reports.ComparisonHeaders(c))
        {
            table.AddColumn(Markup.Escape(h));
        }

        foreach (var row in Reports.ComparisonRows(c))
        {
            table.AddRow(row.Select(Markup.Escape).ToArray());
        }

        env.Console.Write(table);
        env.Console.WriteLine($"paper: {c.Paper.Source}. {c.Paper.Note}.");
        EvalConsole.PrintProtocol(env, releasedHpsv3: true, c.Protocol.Lines());
        var models = new Table { Title = new TableTitle("scorers") };
        models.AddColumns("scorer", "model", "dtype", "preprocessing", "cache hits");
        foreach (var s in c.Scorers)
        {
            models.AddRow(Markup.Escape(s.Scorer), Markup.Escape(Reports.ModelAndScores(s)), Markup.Escape(s.Dtype), Markup.Escape(s.Preprocessing), s.CacheHits.ToString(CultureInfo.InvariantCulture));
        }

        env.Console.Write(models);
    }
}
