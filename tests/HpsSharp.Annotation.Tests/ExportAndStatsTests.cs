using System.Globalization;
using System.Text.Json.Nodes;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Data;
using HpsSharp.Evaluation;
using HpsSharp.Training.Data;
using Xunit;

namespace HpsSharp.Annotation.Tests;

/// <summary>
/// Known votes on five pairs and two gold pairs. Gold: a 2/2 right → r = 3/4; b 1/2 → r = 1/2; c 1/1 → r = 2/3.
/// Pair 0: a,b → path1, c → path2. Pair 1: a,c → path2, b → path1. Pair 2: a → path1, b → path2 (even split).
/// Pair 3: a tie, b skip (no votes). Pair 4: c → path1.
/// </summary>
public sealed class ExportAndStatsTests
{
    private static readonly (long Pair, string Annotator, Vote Vote)[] Votes =
    [
        (-1, "a", Vote.Path1), (-2, "a", Vote.Path1), (-1, "b", Vote.Path2), (-2, "b", Vote.Path1), (-1, "c", Vote.Path1),
        (0, "a", Vote.Path1), (0, "b", Vote.Path1), (0, "c", Vote.Path2),
        (1, "a", Vote.Path2), (1, "c", Vote.Path2), (1, "b", Vote.Path1),
        (2, "a", Vote.Path1), (2, "b", Vote.Path2),
        (3, "a", Vote.Tie), (3, "b", Vote.Skip),
        (4, "c", Vote.Path1),
    ];

    [Fact]
    [Trait("Category", "Unit")]
    public void ExportAggregatesKnownVotes()
    {
        var (pairs, judgements) = Known();
        var (records, summary) = HpdExport.Build(pairs, judgements, new ExportOptions());

        Assert.Equal([0L, 1L, 2L, 4L], records.Select(r => r.PairId));
        var r0 = records[0];
        Assert.Equal(("p0", "a0.png", "b0.png", "m1", "m2", 2, 1), (r0.Prompt, r0.Path1, r0.Path2, r0.Model1, r0.Model2, r0.ChoiceDist[0], r0.ChoiceDist[1]));

        // σ(logit ¾ + logit ½ − logit ⅔) = σ(ln 1.5) = 0.6
        Assert.Equal(0.6, r0.Confidence!.Value, 12);

        // Majority for the file's path2: written as path1 with the models swapped; σ(ln 3 + ln 2 − 0) = 6/7.
        var r1 = records[1];
        Assert.Equal(("b1.png", "a1.png", "m2", "m1", 2, 1), (r1.Path1, r1.Path2, r1.Model1, r1.Model2, r1.ChoiceDist[0], r1.ChoiceDist[1]));
        Assert.Equal(6.0 / 7, r1.Confidence!.Value, 12);

        // Even split: file order kept, equal counts; confidence σ(ln 3 − 0) = 3/4 for the file's path1.
        var r2 = records[2];
        Assert.Equal(("a2.png", 1, 1), (r2.Path1, r2.ChoiceDist[0], r2.ChoiceDist[1]));
        Assert.Equal(0.75, r2.Confidence!.Value, 12);
        Assert.Equal(2.0 / 3, records[3].Confidence!.Value, 12);
        Assert.Equal(new ExportSummary(5, 4, 1, 1, 0, 1, true), summary);

        var (dropped, s2) = HpdExport.Build(pairs, judgements, new ExportOptions(MinVotes: 2, Ties: ExportTies.Drop));
        Assert.Equal([0L, 1L], dropped.Select(r => r.PairId));
        Assert.Equal((2, 1, 1), (s2.BelowMinVotes, s2.EvenSplitsDropped, s2.EvenSplits + 1));

        // No gold answered: confidence is null, the votes are the same.
        var (noGold, s3) = HpdExport.Build(pairs, [.. judgements.Where(j => j.PairId >= 0)], new ExportOptions());
        Assert.All(noGold, r => Assert.Null(r.Confidence));
        Assert.False(s3.WithConfidence);
        Assert.Equal(records.Select(r => (r.Path1, r.ChoiceDist[0], r.ChoiceDist[1])), noGold.Select(r => (r.Path1, r.ChoiceDist[0], r.ChoiceDist[1])));
        Assert.Throws<ArgumentException>(() => HpdExport.Build(pairs, judgements, new ExportOptions(MinVotes: 0)));
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void ReliabilityFollowsTheDocumentedFormula()
    {
        var (_, judgements) = Known();
        var r = Reliability.FromGold(judgements);
        Assert.Equal((2, 2, 0, 0.75), (r["a"].Answered, r["a"].Correct, r["a"].Ties, r["a"].Value));
        Assert.Equal(0.5, r["b"].Value, 12);
        Assert.Equal(2.0 / 3, r["c"].Value, 12);
        Assert.Equal(0.5, Reliability.Confidence([0.9], [0.9]), 12);
        Assert.Equal(0.9 * 0.9 / ((0.9 * 0.9) + (0.1 * 0.1)), Reliability.Confidence([0.9, 0.9], []), 12);
        Assert.Equal(0.5, Reliability.Confidence([], []), 12);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void KrippendorffAlphaMatchesTheTextbookExample()
    {
        // Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the nominal example with missing
        // values: 4 coders, 12 units; published α = 0.743.
        int?[][] coders =
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, null, null, null],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, null, 3],
            [null, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, null],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, null],
        ];
        var units = Enumerable.Range(0, 12).Select(u => (IReadOnlyList<int>)coders.Where(c => c[u] is not null).Select(c => c[u]!.Value).ToList());
        double alpha = Krippendorff.NominalAlpha(units)!.Value;
        Assert.Equal(0.743, alpha, 3);
        Assert.Null(Krippendorff.NominalAlpha(new[] { (IReadOnlyList<int>)[1, 1], [1, 1] }));
        Assert.Null(Krippendorff.NominalAlpha(new[] { (IReadOnlyList<int>)[1] }));
        Assert.Equal(1.0, Krippendorff.NominalAlpha(new[] { (IReadOnlyList<int>)[1, 1], [2, 2] })!.Value, 12);
    }

    [Fact]
    [Trait("Category", "Unit")]
    public void StatsOnKnownVotes()
    {
        var (pairs, judgements) = Known();
        var s = AnnotationStatistics.Compute(pairs, judgements);
        Assert.Equal((5, 2, 5, 2.0), (s.Coverage.Pairs, s.Coverage.GoldPairs, s.Coverage.Judged, s.Coverage.MeanVotes));
        Assert.Equal([0, 2, 1, 2], s.Coverage.VotesHistogram);

        // Units p0 [1,1,2], p1 [2,2,1], p2 [1,2]: o11 = o22 = 1, o12 = o21 = 3, n1 = n2 = 4: α = 1 − 7·6 / 32.
        Assert.Equal(1 - (7.0 * 6 / 32), s.Alpha!.Value, 12);
        Assert.Equal(3, s.AlphaUnits);
        var a = s.PerAnnotator.Single(x => x.Annotator == "a");
        var b = s.PerAnnotator.Single(x => x.Annotator == "b");
        var c = s.PerAnnotator.Single(x => x.Annotator == "c");
        Assert.Equal((6, 3, 1, 0, 1.0, 1, 0), (a.Judgements, a.Votes, a.Ties, a.Skips, a.GoldAccuracy, a.MajorityCompared, a.MajorityAgreed));
        Assert.Equal((6, 3, 0, 1, 0.5, 2, 0), (b.Judgements, b.Votes, b.Ties, b.Skips, b.GoldAccuracy, b.MajorityCompared, b.MajorityAgreed));
        Assert.Equal((4, 3, 1.0, 1, 0), (c.Judgements, c.Votes, c.GoldAccuracy, c.MajorityCompared, c.MajorityAgreed));

        // Every judgement took 1000 ms in Known(): 3600 per hour of answering time.
        Assert.Equal(3600, s.PerHour, 9);
        Assert.Equal(1000, a.MedianMs);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task TheExportIsReadByTheHpdv3ReadersTrainAndEval()
    {
        using var ws = new Workspace(pairs: 5, gold: 2);
        using (var store = ws.OpenStore())
        {
            foreach (var (pair, annotator, vote) in Votes)
            {
                // Show each pair with path1 on the left, so that the vote maps to the choice pressed.
                store.ShowOrder(pair, annotator, () => true);
                store.Record(pair, annotator, vote switch { Vote.Path1 => "left", Vote.Path2 => "right", Vote.Tie => "tie", _ => "skip" }, 1000);
            }
        }

        string export = ws.File("out/train.json");
        var (code, stdout, stderr) = await RunCliAsync("annotate", "export", "--db", ws.Db, "--out", export);
        Assert.True(code == 0, stderr);
        Assert.Contains("exported 4 of 5 pairs", stdout, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(export)!, "*.tmp"));

        // Core's HPDv3 reader.
        var read = Hpdv3PairReader.Read(export).ToList();
        Assert.Equal(4, read.Count);
        Assert.Equal(ws.PairRecords[1].Path2, read[1].Path1);
        Assert.Equal([2.0, 1.0], read[1].ChoiceDist!);
        Assert.Equal(6.0 / 7, read[1].Confidence!.Value, 6);

        // The evaluator: detected as HPDv3; the even split is a human tie.
        var dataset = EvalDataset.Open(export);
        Assert.Equal(DatasetFormat.Hpdv3, dataset.Format);
        Assert.Equal([false, false, true, false], dataset.Pairs().Select(p => p.TruthTie));

        // The trainer's reader, with a confidence threshold: 6/7 and 3/4 pass 0.7, 0.6 and 2/3 do not.
        var report = new DataReport();
        var train = PairDataset.Load(export, PairFormat.Hpdv3, ws.Images, new PairDataOptions(ConfidenceThreshold: 0.7), report);
        Assert.Equal((4L, 2L, 2L, 0L), (report.Rows, report.Kept, report.BelowConfidence, report.BadRows));
        Assert.Equal(Path.Combine(ws.Images, ws.PairRecords[1].Path2), train[0].Preferred);

        // hps eval on it with precomputed scores: μ per image. HPDv3's default follows the paper's evaluate.py: every
        // listed pair counts with path1 preferred, the even split too (--gt-ties listed).
        var mu = new Dictionary<string, double> { ["coins.png"] = 1, ["text.png"] = 4, ["camera.png"] = 2, ["sub/rocket.jpg"] = 0, ["chelsea.png"] = 3, ["retina.jpg"] = 5 };
        string scores = ws.File("scores.jsonl");
        File.WriteAllLines(scores, mu.Select(kv => $"{{\"image\": \"{kv.Key}\", \"mu\": {kv.Value.ToString(CultureInfo.InvariantCulture)}}}"));
        int expectedCorrect = read.Count(p => mu[p.Path1] > mu[p.Path2]);
        (code, stdout, stderr) = await RunCliAsync("eval", "--data", export, "--scores", scores, "--images", ws.Images, "--json");
        Assert.True(code == 0, stderr);
        var result = JsonNode.Parse(stdout)!;
        Assert.Equal(4, (int)result["pairs"]!);
        Assert.Equal(expectedCorrect, (int)result["correct"]!);

        // hps annotate stats --json on the same database.
        (code, stdout, stderr) = await RunCliAsync("annotate", "stats", "--db", ws.Db, "--json");
        Assert.True(code == 0, stderr);
        var stats = JsonNode.Parse(stdout)!;
        Assert.Equal(16, (int)stats["judgements"]!);
        Assert.Equal(1 - (7.0 * 6 / 32), (double)stats["agreement"]!["krippendorff_alpha"]!, 9);
        Assert.Equal(0.75, (double)stats["per_annotator"]![0]!["gold"]!["reliability"]!, 9);
        Assert.Equal(5, (int)stats["coverage"]!["judged"]!);

        (code, stdout, _) = await RunCliAsync("annotate", "stats", "--db", ws.Db);
        Assert.Equal(0, code);
        Assert.Contains("Krippendorff's α (nominal: path1 / path2 / tie) = -0.313", stdout, StringComparison.Ordinal);
        Assert.Contains("5 of 5 pairs judged", stdout, StringComparison.Ordinal);
        Assert.Matches(@"\n\s+b\s+6\s+3/0/1\s+50% \(2\)\s+0\.50\s+0% \(2\)\s+1\.0\s+3600\s", stdout);
    }

    [Fact]
    [Trait("Category", "Model")]
    public async Task HpsTrainTrainsOnTheExportAndHpsEvalEvaluatesTheResult()
    {
        using var ws = new Workspace(pairs: 5, gold: 2);
        using (var store = ws.OpenStore())
        {
            foreach (var (pair, annotator, vote) in Votes)
            {
                store.ShowOrder(pair, annotator, () => false);
                store.Record(pair, annotator, vote switch { Vote.Path1 => "right", Vote.Path2 => "left", Vote.Tie => "tie", _ => "skip" }, 900);
            }
        }

        string export = ws.File("train.json");
        var (code, _, stderr) = await RunCliAsync("annotate", "export", "--db", ws.Db, "--out", export);
        Assert.True(code == 0, stderr);

        // The tiny test model, randomly initialised, one epoch; the confidence threshold keeps 6/7 and 3/4.
        string run = ws.File("run");
        (code, var stdout, stderr) = await RunCliAsync(
            "train", "--model", HpsSharp.Testing.TestPaths.Fixture("hpsv3-tiny"), "--random-init", "--tokenizer", HpsSharp.Testing.TestPaths.TokenizerDir,
            "--data", export, "--images", ws.Images, "--out", run, "--dtype", "fp32", "--batch-size", "2", "--grad-accum", "1", "--epochs", "1",
            "--min-pixels", "3136", "--max-pixels", "3136", "--seed", "1", "--confidence-threshold", "0.7", "--json");
        Assert.True(code == 0, stderr);
        var summary = JsonNode.Parse(stdout)!;
        Assert.True((bool)summary["finished"]!);
        Assert.Equal((4, 2, 2), ((int)summary["data"]!["rows"]!, (int)summary["data"]!["kept"]!, (int)summary["data"]!["below_confidence"]!));
        Assert.True(File.Exists(Path.Combine(run, "model.safetensors")));

        (code, stdout, stderr) = await RunCliAsync("eval", "--model", run, "--data", export, "--images", ws.Images, "--dtype", "fp32", "--no-cache", "--json");
        Assert.True(code == 0, stderr);
        var result = JsonNode.Parse(stdout)!;
        Assert.Equal(4, (int)result["pairs"]!); // HPDv3 default: every listed pair counts, the even split too
        Assert.InRange((double)result["accuracy"]!, 0, 1);
    }

    [Fact]
    [Trait("Category", "Integration")]
    public async Task CliErrorsAreOneLineWithTheRightExitCode()
    {
        using var ws = new Workspace(pairs: 1, gold: 0);
        var (code, _, err) = await RunCliAsync("annotate", "export", "--db", ws.File("missing.sqlite"), "--out", ws.File("x.json"));
        Assert.Equal(1, code);
        Assert.Contains("annotation database not found", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);

        (code, _, err) = await RunCliAsync("annotate", "export", "--db", ws.Db, "--out", ws.File("x.json"), "--min-votes", "0");
        Assert.Equal(2, code);
        Assert.Contains("--min-votes must be at least 1", err, StringComparison.Ordinal);

        (code, _, err) = await RunCliAsync("annotate", "serve", "--pairs", ws.PairsFile, "--images", ws.File("nope"), "--db", ws.Db);
        Assert.Equal(1, code);
        Assert.Contains("--images: folder not found", err, StringComparison.Ordinal);

        (code, _, err) = await RunCliAsync("annotate", "serve", "--pairs", ws.PairsFile, "--images", ws.Images, "--db", ws.Db, "--gold-rate", "1.5");
        Assert.Equal(2, code);
        Assert.Contains("--gold-rate", err, StringComparison.Ordinal);
        Assert.False(File.Exists(ws.Db));
    }

    internal static async Task<(int Code, string Out, string Err)> RunCliAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = await CliApp.RunAsync(args, new CliEnvironment(stdout, stderr, interactive: false));
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static (IReadOnlyList<AnnotationPair> Pairs, IReadOnlyList<Judgement> Judgements) Known()
    {
        var pairs = Enumerable.Range(0, 5).Select(i => new AnnotationPair(i, $"p{i}", $"a{i}.png", $"b{i}.png", "m1", "m2"))
            .Concat([new AnnotationPair(-1, "g1", "g1a.png", "g1b.png", null, null), new AnnotationPair(-2, "g2", "g2a.png", "g2b.png", null, null)])
            .ToList();
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var judgements = Votes.Select((v, i) => new Judgement(i + 1, v.Pair, v.Annotator, "left", true, v.Vote, 1000, t0.AddSeconds(i))).ToList();
        return (pairs, judgements);
    }
}
