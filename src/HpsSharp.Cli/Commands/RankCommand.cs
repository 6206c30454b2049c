using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps rank</c>: images ordered best first (best-of-N).</summary>
public sealed class RankCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var model = new ModelOptions();
        var prompt = new Option<string>("--prompt") { Description = "The prompt the images were generated for", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout" };
        var images = new Argument<string[]>("IMAGE") { Description = "Candidate images", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("rank", "Order images for a prompt best first by μ (best-of-N), or by the --scorer's score");
        model.AddTo(cmd);
        cmd.Options.Add(prompt);
        cmd.Options.Add(json);
        cmd.Arguments.Add(images);
        cmd.SetAction(async (parse, ct) =>
        {
            var paths = parse.GetValue(images)!;
            foreach (var p in paths)
            {
                if (!File.Exists(p))
                {
                    throw new FileNotFoundException($"image not found: {p}", p);
                }
            }

            using var scorer = model.Load(parse, env);
            var ranking = await ProgressReporter.RunAsync(env, "scoring", p => scorer.RankAsync(parse.GetValue(prompt)!, paths.Select(ImageInput.FromPath).ToList(), p, ct)).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                var name = scorer.Model.Scorer;
                var doc = new RankDocument(ModelRecord.From(scorer.Model), ranking.Order, [.. ranking.Results.Select(r => ScoreItem.From(r, name))]);
                env.Out.WriteLine(ContractJson.Write(doc, ContractJson.Indented.RankDocument));
            }
            else
            {
                bool point = ranking.Results.Any(r => r.Score is { HasUncertainty: false });
                var table = point ? new Table().AddColumns("rank", "image", scorer.Model.Scorer) : new Table().AddColumns("rank", "image", "μ", "σ");
                table.Columns[1].NoWrap(); // a file name split over lines cannot be copied back
                int rank = 1;
                foreach (var i in ranking.Order)
                {
                    var s = ranking.Results[i].Score!.Value;
                    var place = (rank++).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (point)
                    {
                        table.AddRow(place, Markup.Escape(paths[i]), ScoreCommand.F(s.Mu));
                    }
                    else
                    {
                        table.AddRow(place, Markup.Escape(paths[i]), ScoreCommand.F(s.Mu), ScoreCommand.F(s.Sigma));
                    }
                }

                env.Console.Write(table);
            }

            return ScoreCommand.ReportFailures(env, ranking.Results);
        });
        return cmd;
    }
}
