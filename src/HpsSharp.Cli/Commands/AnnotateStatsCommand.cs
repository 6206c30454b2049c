using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using HpsSharp.Annotation;
using HpsSharp.Cli.Infrastructure;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps annotate stats</c>: agreement, throughput and coverage of an annotation database.</summary>
internal static class AnnotateStatsCommand
{
    public static Command Create(CliEnvironment env)
    {
        var db = new Option<string>("--db") { Description = "The annotation database", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout" };
        var cmd = new Command("stats", "Agreement per annotator (against gold and against the others' majority), Krippendorff's α, throughput and coverage")
        {
            db, json,
        };
        cmd.SetAction(parse =>
        {
            using var store = AnnotationStore.Open(parse.GetValue(db)!, create: false);
            var stats = AnnotationStatistics.Compute(store.Pairs(), store.Judgements());
            if (parse.GetValue(json))
            {
                env.Out.WriteLine(ToJson(stats).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                Print(env, stats);
            }

            return CliApp.Ok;
        });
        return cmd;
    }

    private static JsonObject ToJson(AnnotationStats s) => new()
    {
        ["judgements"] = s.Judgements,
        ["annotators"] = s.Annotators,
        ["coverage"] = new JsonObject
        {
            ["pairs"] = s.Coverage.Pairs,
            ["gold_pairs"] = s.Coverage.GoldPairs,
            ["judged"] = s.Coverage.Judged,
            ["share_judged"] = s.Coverage.Pairs == 0 ? 0 : (double)s.Coverage.Judged / s.Coverage.Pairs,
            ["mean_votes"] = s.Coverage.MeanVotes,
            ["votes_histogram"] = new JsonArray([.. s.Coverage.VotesHistogram.Select(v => (JsonNode)v)]),
        },
        ["agreement"] = new JsonObject
        {
            ["krippendorff_alpha"] = s.Alpha,
            ["alpha_level"] = "nominal (path1, path2, tie; skips missing)",
            ["alpha_units"] = s.AlphaUnits,
        },
        ["throughput"] = new JsonObject
        {
            ["per_hour"] = s.PerHour,
            ["wall_hours"] = s.WallHours,
        },
        ["per_annotator"] = new JsonArray([.. s.PerAnnotator.Select(a => (JsonNode)new JsonObject
        {
            ["annotator"] = a.Annotator,
            ["judgements"] = a.Judgements,
            ["votes"] = a.Votes,
            ["ties"] = a.Ties,
            ["skips"] = a.Skips,
            ["gold"] = new JsonObject
            {
                ["answered"] = a.Gold.Answered,
                ["correct"] = a.Gold.Correct,
                ["ties"] = a.Gold.Ties,
                ["accuracy"] = a.GoldAccuracy,
                ["reliability"] = a.Gold.Value,
            },
            ["majority"] = new JsonObject
            {
                ["compared"] = a.MajorityCompared,
                ["agreed"] = a.MajorityAgreed,
                ["agreement"] = a.MajorityAgreement,
            },
            ["median_ms"] = a.MedianMs,
            ["per_hour"] = a.PerHour,
            ["first_utc"] = a.First.ToString("O", CultureInfo.InvariantCulture),
            ["last_utc"] = a.Last.ToString("O", CultureInfo.InvariantCulture),
        })]),
    };

    private static void Print(CliEnvironment env, AnnotationStats s)
    {
        var c = s.Coverage;
        env.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"coverage: {c.Judged} of {c.Pairs} pairs judged ({Percent(c.Pairs == 0 ? null : (double)c.Judged / c.Pairs)}), {c.MeanVotes:0.##} votes per pair; votes per pair: {string.Join(", ", c.VotesHistogram.Select((n, i) => $"{i}: {n}"))}; {c.GoldPairs} gold pairs"));
        env.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"agreement: Krippendorff's α (nominal: path1 / path2 / tie) = {(s.Alpha is { } a ? a.ToString("0.###", CultureInfo.InvariantCulture) : "n/a")} over {s.AlphaUnits} pairs with two or more answers"));
        env.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"throughput: {s.Judgements} answers from {s.Annotators} annotators, {s.PerHour:0} per hour of answering time, {s.WallHours:0.##} h from first to last"));
        if (s.PerAnnotator.Count == 0)
        {
            return;
        }

        var table = new Table().Border(TableBorder.Simple).AddColumns("annotator", "answers", "v/t/s", "gold acc.", "r", "vs maj.", "median s", "per h");
        foreach (var i in new[] { 1, 6, 7 })
        {
            table.Columns[i].RightAligned();
        }

        foreach (var p in s.PerAnnotator)
        {
            table.AddRow(
                Markup.Escape(p.Annotator),
                Num(p.Judgements),
                $"{Num(p.Votes)}/{Num(p.Ties)}/{Num(p.Skips)}",
                p.GoldAccuracy is null ? "n/a" : $"{Percent(p.GoldAccuracy)} ({p.Gold.Answered - p.Gold.Ties})",
                p.Gold.Value.ToString("0.00", CultureInfo.InvariantCulture),
                p.MajorityAgreement is null ? "n/a" : $"{Percent(p.MajorityAgreement)} ({p.MajorityCompared})",
                (p.MedianMs / 1000).ToString("0.0", CultureInfo.InvariantCulture),
                p.PerHour.ToString("0", CultureInfo.InvariantCulture));
        }

        env.Out.WriteLine("per annotator: v/t/s = votes/ties/skips on ordinary pairs; gold acc. = right answers on gold pairs, ties left out (pairs);");
        env.Out.WriteLine("  r = reliability (right + ties/2 + 1) / (answered + 2); vs maj. = agreement with the other annotators' majority (pairs)");
        env.Console.Write(table);
    }

    private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Percent(double? x) => x is { } v ? (100 * v).ToString("0.#", CultureInfo.InvariantCulture) + "%" : "n/a";
}
