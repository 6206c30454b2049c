using System.Text.Json;
using HpsSharp.Testing;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>
/// <c>hps eval --scorer X</c> with a real (tiny) baseline on every dataset format, and <c>hps eval --scorers</c>
/// putting several scorers side by side. Expected accuracies come from the PickScore goldens' "rank" case: one
/// prompt, three images with golden scores (rocket 1.86, coffee 4.10, astronaut 4.97).
/// </summary>
[Trait("Category", "Integration")]
public sealed class EvalScorersTests
{
    private static readonly string[] Names = ["rocket.jpg", "coffee.png", "astronaut.png"];

    /// <summary>The golden case's prompt and each image's golden PickScore, the images copied into <c>dir/img</c>.</summary>
    private static (string Prompt, Dictionary<string, double> Score) RankCase(TempDir dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("scorers/pickscore/cases.json")));
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("id").GetString() == "rank");
        var images = c.GetProperty("images").EnumerateArray().Select(i => Path.GetFileName(i.GetProperty("image").GetString()!)).ToArray();
        Assert.Equal(Names, images);
        var scores = c.GetProperty("expected").GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Directory.CreateDirectory(dir.File("img"));
        foreach (var n in Names)
        {
            File.Copy(TestPaths.Image(n), dir.File("img/" + n));
        }

        return (c.GetProperty("prompts")[0].GetString()!, Names.Select((n, i) => (n, scores[i])).ToDictionary(x => x.n, x => x.Item2));
    }

    // Human judgements, (preferred, other): one pair PickScore gets right (astronaut over rocket), two it gets wrong.
    private static readonly (string Preferred, string Other)[] Pairs = [("astronaut.png", "rocket.jpg"), ("rocket.jpg", "coffee.png"), ("coffee.png", "astronaut.png")];

    /// <summary>Writes the dataset in <paramref name="format"/>; returns its path and the accuracy the golden scores give.</summary>
    private static async Task<(string Data, double Expected)> Build(TempDir dir, string format, string prompt, Dictionary<string, double> s)
    {
        double PairAcc(IEnumerable<(string P, string O)> pairs) => pairs.Average(p => s[p.P] > s[p.O] ? 1.0 : 0.0);

        // A ranking (lower rank is better): every pair of different ranks, correct iff the golden order agrees.
        double RankAcc(string[] images, int[] ranks)
        {
            var pairs = new List<(string, string)>();
            for (int i = 0; i < images.Length; i++)
            {
                for (int j = i + 1; j < images.Length; j++)
                {
                    pairs.Add(ranks[i] < ranks[j] ? (images[i], images[j]) : (images[j], images[i]));
                }
            }

            return PairAcc(pairs);
        }

        string[] gens = ["astronaut.png", "coffee.png", "rocket.jpg"];
        switch (format)
        {
            case "hpdv3":
                File.WriteAllText(dir.File("d.json"), JsonSerializer.Serialize(Pairs.Select(p => new { prompt, path1 = "img/" + p.Preferred, path2 = "img/" + p.Other })));
                return (dir.File("d.json"), PairAcc(Pairs));
            case "jsonl":
                File.WriteAllLines(dir.File("d.jsonl"), Pairs.Select(p => JsonSerializer.Serialize(new { prompt, path1 = "img/" + p.Preferred, path2 = "img/" + p.Other })));
                return (dir.File("d.jsonl"), PairAcc(Pairs));
            case "imagereward":
                int[] ranking = [2, 1, 3];
                File.WriteAllText(dir.File("d.json"), JsonSerializer.Serialize(new[] { new { id = "1", prompt, generations = gens.Select(g => "img/" + g).ToArray(), ranking } }));
                return (dir.File("d.json"), RankAcc(gens, ranking));
            case "hpdv2":
                int[] rank = [3, 1, 2];
                File.WriteAllText(dir.File("d.json"), JsonSerializer.Serialize(new[] { new { prompt, image_path = gens.Select(g => "img/" + g).ToArray(), rank } }));
                return (dir.File("d.json"), RankAcc(gens, rank));
            default:
                // Pick-a-Pic holds the encoded images; label_0 = 1 means image 0 preferred.
                var fields = new DataField[] { new DataField<string>("caption"), new DataField<byte[]>("jpg_0"), new DataField<byte[]>("jpg_1"), new DataField<double>("label_0"), new DataField<double>("label_1") };
                using (var fs = File.Create(dir.File("d.parquet")))
                {
                    await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), fs);
                    using var rg = writer.CreateRowGroup();
                    await rg.WriteAsync((DataField<string>)fields[0], Pairs.Select(_ => prompt).ToArray());
                    await rg.WriteAsync((DataField<byte[]>)fields[1], Pairs.Select(p => File.ReadAllBytes(dir.File("img/" + p.Preferred))).ToArray());
                    await rg.WriteAsync((DataField<byte[]>)fields[2], Pairs.Select(p => File.ReadAllBytes(dir.File("img/" + p.Other))).ToArray());
                    await rg.WriteAsync((DataField<double>)fields[3], (ReadOnlyMemory<double>)Pairs.Select(_ => 1.0).ToArray());
                    await rg.WriteAsync((DataField<double>)fields[4], (ReadOnlyMemory<double>)Pairs.Select(_ => 0.0).ToArray());
                }

                return (dir.File("d.parquet"), PairAcc(Pairs));
        }
    }

    [Theory]
    [InlineData("hpdv3")]
    [InlineData("jsonl")]
    [InlineData("imagereward")]
    [InlineData("hpdv2")]
    [InlineData("pickapic")]
    public async Task EvalWithPickScoreWorksOnEveryFormatAndGivesTheGoldenAccuracy(string format)
    {
        using var dir = TestPaths.TempDir();
        var (prompt, scores) = RankCase(dir);
        var (data, expected) = await Build(dir, format, prompt, scores);
        var (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--scorer", "pickscore", "--model", ScorerOptionTests.ModelDir(dir, "pickscore"),
            "--data", data, "--format", format, "--no-cache", "--json", "--bootstrap", "0");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(format, root.GetProperty("protocol").GetProperty("format").GetString());
        Assert.StartsWith("PickScore", root.GetProperty("protocol").GetProperty("model").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, root.GetProperty("protocol").GetProperty("missing_images").GetInt64());
        Assert.Equal(3, root.GetProperty("pairs").GetInt64());
        Assert.Equal(expected, root.GetProperty("accuracy").GetDouble(), 12);
    }

    [Fact]
    public async Task ScorersSideBySideMatchTheirOwnEvaluationsAndCarryThePaperNumbers()
    {
        using var dir = TestPaths.TempDir();
        var (prompt, scores) = RankCase(dir);
        var (data, pickExpected) = await Build(dir, "hpdv3", prompt, scores);
        string hps = TestPaths.TinyModelDir(dir), pick = ScorerOptionTests.ModelDir(dir, "pickscore"), hpsv2 = ScorerOptionTests.ModelDir(dir, "hpsv2.1");
        string cache = dir.File("c.sqlite");
        string[] args = ["eval", "--scorers", "hpsv3,pickscore,hpsv2.1", "--model", hps, "--model-for", "pickscore=" + pick, "--model-for", "hpsv2.1=" + hpsv2,
            "--data", data, "--cache", cache, "--bootstrap", "200"];
        var (code, stdout, stderr) = await CliHarness.RunAsync([.. args, "--json"]);
        Assert.True(code == 0, stderr);
        double hpsv2Alone;
        {
            // The same scorer evaluated alone (from the cache the comparison filled) gives the same accuracy.
            var (c1, o1, e1) = await CliHarness.RunAsync("eval", "--scorer", "hpsv2.1", "--model", hpsv2, "--data", data, "--cache", cache, "--json", "--bootstrap", "0");
            Assert.True(c1 == 0, e1);
            using var alone = JsonDocument.Parse(o1);
            Assert.Equal(6, alone.RootElement.GetProperty("cache_hits").GetInt64());
            hpsv2Alone = alone.RootElement.GetProperty("accuracy").GetDouble();
        }

        using (var doc = JsonDocument.Parse(stdout))
        {
            var root = doc.RootElement;
            var rows = root.GetProperty("scorers").EnumerateArray().ToArray();
            Assert.Equal(["hpsv3", "pickscore", "hpsv2.1"], rows.Select(r => r.GetProperty("scorer").GetString()));
            Assert.All(rows, r => Assert.Equal(3, r.GetProperty("pairs").GetInt64()));
            Assert.All(rows, r => Assert.Equal(2, r.GetProperty("ci95").GetArrayLength()));
            Assert.Equal(pickExpected, rows[1].GetProperty("accuracy").GetDouble(), 12);
            Assert.Equal(hpsv2Alone, rows[2].GetProperty("accuracy").GetDouble(), 12);
            Assert.Equal(0.769, rows[0].GetProperty("paper_accuracy").GetDouble());
            Assert.Equal(0.656, rows[1].GetProperty("paper_accuracy").GetDouble());
            Assert.Equal(JsonValueKind.Null, rows[2].GetProperty("paper_accuracy").ValueKind);
            Assert.Contains("v2.0", rows[2].GetProperty("paper_note").GetString(), StringComparison.Ordinal);
            Assert.Equal("HPDv3", root.GetProperty("paper").GetProperty("column").GetString());
            Assert.Equal("strict", root.GetProperty("protocol").GetProperty("tie_policy").GetString());
            Assert.True(root.GetProperty("same_pairs").GetBoolean());
            Assert.Equal(3, root.GetProperty("results").GetArrayLength());
            Assert.Contains("not the released HPSv3", rows[0].GetProperty("model").GetString(), StringComparison.Ordinal);
        }

        // Again with a report: every score now comes from the cache, and the report holds the table and each scorer's report.
        (code, stdout, stderr) = await CliHarness.RunAsync([.. args, "--report", dir.File("out")]);
        Assert.True(code == 0, stderr);
        Assert.Contains("paper (HPDv3, reference only)", stdout, StringComparison.Ordinal);
        Assert.Contains("65.6%", stdout, StringComparison.Ordinal);
        using (var result = JsonDocument.Parse(File.ReadAllText(dir.File("out/result.json"))))
        {
            Assert.All(result.RootElement.GetProperty("scorers").EnumerateArray(), r => Assert.Equal(0, r.GetProperty("scored_images").GetInt64()));
        }

        var md = File.ReadAllText(dir.File("out/report.md"));
        Assert.Contains("| pickscore | " + (pickExpected * 100).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + "%", md, StringComparison.Ordinal);
        Assert.Contains("76.9%", File.ReadAllText(dir.File("out/report.html")), StringComparison.Ordinal);
        Assert.True(new FileInfo(dir.File("out/accuracy.png")).Length > 1000);
        foreach (var s in new[] { "hpsv3", "pickscore", "hpsv2.1" })
        {
            Assert.True(File.Exists(dir.File($"out/{s}/report.html")), s);
        }
    }

    [Fact]
    public async Task PrecomputedScoresStandInForAModelAndMisuseIsAUsageError()
    {
        using var dir = TestPaths.TempDir();
        var (prompt, scores) = RankCase(dir);
        var (data, pickExpected) = await Build(dir, "jsonl", prompt, scores);

        // --scores-for: the golden PickScore numbers as a scores file, beside a scorer run from its model.
        File.WriteAllLines(dir.File("pick.jsonl"), scores.Select(kv => JsonSerializer.Serialize(new { image = "img/" + kv.Key, score = kv.Value })));
        var (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--scorers", "pickscore,clipscore", "--scores-for", "pickscore=" + dir.File("pick.jsonl"),
            "--model-for", "clipscore=" + ScorerOptionTests.ModelDir(dir, "clipscore"), "--data", data, "--no-cache", "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var rows = doc.RootElement.GetProperty("scorers");
            Assert.Equal(pickExpected, rows[0].GetProperty("accuracy").GetDouble(), 12);
            Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("paper").GetProperty("column").ValueKind); // JSONL is none of the paper's test sets
            Assert.Equal(JsonValueKind.Null, rows[0].GetProperty("paper_accuracy").ValueKind);
        }

        string pick = ScorerOptionTests.ModelDir(dir, "pickscore");
        foreach (var (bad, message) in new (string[] Args, string Message)[]
        {
            (["--scorers", "pickscore,clipscore", "--model", pick], "'clipscore' needs its model folder"),
            (["--scorers", "pickscore,dalle", "--model", pick], "unknown scorer 'dalle'"),
            (["--scorers", "pickscore,pickscore", "--model", pick], "'pickscore' is named twice"),
            (["--scorer", "pickscore", "--model", pick, "--model-for", "clipscore=" + pick], "--model-for and --scores-for go with --scorers"),
            (["--scorers", "pickscore", "--scorer", "pickscore", "--model", pick], "either --scorer (one) or --scorers"),
            (["--scorers", "pickscore", "--scores", dir.File("pick.jsonl")], "--scores goes with one scorer"),
            (["--scorers", "pickscore", "--model", pick, "--model-for", "hpsv3=" + pick], "'hpsv3' is not one of the scorers named"),
            (["--scorers", "pickscore", "--model-for", "pickscore", "--model", pick], "'pickscore' is not NAME=PATH"),
        })
        {
            (code, _, stderr) = await CliHarness.RunAsync(["eval", "--data", data, "--no-cache", .. bad]);
            Assert.True(code == 2, $"{string.Join(' ', bad)}: exit {code}: {stderr}");
            Assert.Contains(message, stderr, StringComparison.Ordinal);
        }

        (code, _, stderr) = await CliHarness.RunAsync("eval", "--data", data, "--no-cache", "--scorers", "pickscore", "--model-for", "pickscore=" + dir.File("nowhere"));
        Assert.Equal(1, code);
        Assert.Contains("folder not found", stderr, StringComparison.Ordinal);
    }
}
