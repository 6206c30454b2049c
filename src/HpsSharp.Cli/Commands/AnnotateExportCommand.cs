using System.CommandLine;
using System.Globalization;
using HpsSharp.Annotation;
using HpsSharp.Cli.Infrastructure;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps annotate export</c>: the judgements as HPDv3 data that <c>hps train</c> and <c>hps eval</c> read.</summary>
internal static class AnnotateExportCommand
{
    public static Command Create(CliEnvironment env)
    {
        var db = new Option<string>("--db") { Description = "The annotation database", Required = true };
        var output = new Option<string>("--out") { Description = "HPDv3 JSON file to write (atomically)", Required = true };
        var minVotes = new Option<int>("--min-votes") { Description = "Export pairs with at least this many votes for one image or the other (ties and skips not counted)", DefaultValueFactory = _ => 1 };
        var ties = new Option<string>("--ties") { Description = "Even splits: keep (file order, equal counts: a human tie) or drop", DefaultValueFactory = _ => "keep" };
        ties.AcceptOnlyFromAmong("keep", "drop");
        minVotes.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--min-votes must be at least 1");
            }
        });
        var cmd = new Command("export", "Write the judgements as HPDv3: path1 = majority choice, choice_dist = votes, confidence from gold-pair reliability (null without gold)")
        {
            db, output, minVotes, ties,
        };
        cmd.SetAction(parse =>
        {
            using var store = AnnotationStore.Open(parse.GetValue(db)!, create: false);
            string outPath = parse.GetValue(output)!;
            var s = HpdExport.Write(store, outPath, new ExportOptions(parse.GetValue(minVotes), parse.GetValue(ties) == "drop" ? ExportTies.Drop : ExportTies.Keep));
            env.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"exported {s.Exported} of {s.Pairs} pairs to {outPath}: {s.BelowMinVotes} below --min-votes {parse.GetValue(minVotes)}, {s.EvenSplits} even splits kept in file order, {s.EvenSplitsDropped} even splits dropped, {s.Swapped} with path2 preferred written as path1; confidence: {(s.WithConfidence ? "from gold-pair reliability" : "null (no gold pair answered)")}"));
            return CliApp.Ok;
        });
        return cmd;
    }
}
