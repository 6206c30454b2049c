using System.CommandLine;
using System.Globalization;
using System.Net;
using HpsSharp.Annotation;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Evaluation;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps annotate serve</c>: the annotation web app.</summary>
internal static class AnnotateServeCommand
{
    public static Command Create(CliEnvironment env)
    {
        var pairs = new Option<string>("--pairs") { Description = "Pairs to judge: HPDv3 JSON or JSONL with the same keys; a pair's id is its index in this file", Required = true };
        var images = new Option<string>("--images") { Description = "Image root: image paths in the pairs resolve under it and may not leave it", Required = true };
        var db = new Option<string>("--db") { Description = "SQLite database of the judgements (created when missing; reopen it to continue)", Required = true };
        var gold = new Option<string?>("--gold") { Description = "Gold pairs with known answers (path1 preferred; HPDv3 or JSONL) mixed in to measure each annotator" };
        var goldRate = new Option<double>("--gold-rate") { Description = "Share of each annotator's answers that are gold pairs", DefaultValueFactory = _ => 0.1 };
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, separated by ';'", DefaultValueFactory = _ => "http://127.0.0.1:8090" };
        var seed = new Option<int?>("--seed") { Description = "Seed for the left/right order (default: random)" };
        var model = new ModelOptions(required: false);
        model.Model.Description = "Model folder: order pairs by the model's uncertainty, |P(A≻B) − 0.5| smallest first (default: fewest judgements first)";
        var cache = new Option<string?>("--cache") { Description = "Score cache file for --model (default $HPS_CACHE_DIR or ~/.cache/hpssharp/scores.sqlite)" };
        var noCache = new Option<bool>("--no-cache") { Description = "Do not read or write the score cache" };
        var cmd = new Command("serve", "Serve the annotation page: prompt and two images, ←/→ choose, ↓ tie, space skip; each answer is stored in --db before it is acknowledged");
        foreach (var o in new Option[] { pairs, images, db, gold, goldRate, urls, seed })
        {
            cmd.Options.Add(o);
        }

        model.AddTo(cmd);
        cmd.Options.Add(cache);
        cmd.Options.Add(noCache);
        goldRate.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is not (>= 0 and < 1))
            {
                r.AddError("--gold-rate must be at least 0 and below 1");
            }
        });

        cmd.SetAction(async (parse, ct) =>
        {
            if (!Directory.Exists(parse.GetValue(images)))
            {
                throw new DirectoryNotFoundException($"--images: folder not found: {parse.GetValue(images)}");
            }

            var scorerOptions = parse.GetValue(model.Model) is null ? null : model.Read(parse);
            var options = new AnnotationAppOptions
            {
                PairsFile = parse.GetValue(pairs)!,
                ImagesRoot = parse.GetValue(images)!,
                Database = parse.GetValue(db)!,
                GoldFile = parse.GetValue(gold),
                GoldRate = parse.GetValue(goldRate),
                Urls = parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Seed = parse.GetValue(seed),
                ScoreCachePath = scorerOptions is null || parse.GetValue(noCache) ? null : parse.GetValue(cache) ?? ScoreCache.DefaultPath(),
                LoadScorer = scorerOptions is null ? null : async loadCt =>
                {
                    var scorer = await Task.Run(() => env.ScorerLoader(scorerOptions), loadCt).ConfigureAwait(false);
                    env.Error.WriteLine($"model: {scorer.Model.Describe()}");
                    return scorer;
                },
            };
            foreach (var url in options.Urls)
            {
                if (!IsLoopback(url))
                {
                    env.ErrorConsole.MarkupLine($"[yellow]warning:[/] listening on {Markup.Escape(url)}: anyone who can reach it can read the pairs and submit judgements (there is no login)");
                }
            }

            var app = AnnotationApp.Build(options, logging => logging.AddProvider(new ServeCommand.WriterLoggerProvider(env)).SetMinimumLevel(LogLevel.Information)
                .AddFilter("Microsoft.AspNetCore", LogLevel.Warning));
            await using (app.ConfigureAwait(false))
            {
                var queue = app.Services.GetService(typeof(AnnotationQueue)) as AnnotationQueue;
                env.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"annotate: {queue!.Pairs.Count} pairs, {queue.Gold.Count} gold pairs (rate {queue.GoldRate}), database {Path.GetFullPath(options.Database)}; order: {(scorerOptions is null ? "fewest judgements first" : "model uncertainty, then fewest judgements")}"));
                await app.StartAsync(ct).ConfigureAwait(false);
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
                if (AnnotationApp.ModelError(app) is { } error)
                {
                    throw error is HpsException or IOException or ArgumentException or NotSupportedException or UnauthorizedAccessException
                        ? error
                        : new UserInputException("--model", $"the model could not score the pairs: {error.Message}", error);
                }
            }

            return CliApp.Ok;
        });
        return cmd;
    }

    private static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }
}
