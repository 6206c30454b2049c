using System.Text;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary><c>hps eval</c> end to end on a small dataset in every format, with a (fake) model and with --scores.</summary>
[Trait("Category", "Integration")]
public sealed class EvalFormatsCommandTests
{
    /// <summary>Writes the dataset; returns its path, the expected metric and accuracy, and μ per image key.</summary>
    private static async Task<(string Data, string Metric, double Accuracy, Dictionary<string, double> Mu)> Build(TempDir dir, string format)
    {
        var mu = new Dictionary<string, double>();
        string Img(string name, double m)
        {
            Directory.CreateDirectory(dir.File("img"));
            File.WriteAllText(dir.File("img/" + name), name);
            mu["img/" + name] = m;
            return "img/" + name;
        }

        switch (format)
        {
            case "hpdv3":
                File.WriteAllText(dir.File("d.json"), JsonSerializer.Serialize(new[]
                {
                    new { prompt = "a", path1 = Img("a1.png", 2), path2 = Img("a2.png", 1) },
                    new { prompt = "b", path1 = Img("b1.png", 0), path2 = Img("b2.png", 1) },
                }));
                return (dir.File("d.json"), "pair_accuracy", 0.5, mu);
            case "imagereward":
                File.WriteAllText(dir.File("d.json"), JsonSerializer.Serialize(new[]
                {
                    new { id = "1", prompt = "a", generations = new[] { Img("r1.png", 3), Img("r2.png", 2), Img("r3.png", 1) }, ranking = new[] { 1, 3, 2 } },
                }));
                return (dir.File("d.json"), "ranking_accuracy", 2.0 / 3, mu);
            case "hpdv2":
                File.WriteAllText(dir.File("d.json"), JsonSerializer.Serialize(new[]
                {
                    new { prompt = "a", image_path = new[] { Img("h1.png", 1), Img("h2.png", 2), Img("h3.png", 3), Img("h4.png", 4) }, rank = new[] { 4, 3, 2, 1 } },
                }));
                return (dir.File("d.json"), "ranking_accuracy", 1.0, mu);
            case "jsonl":
                File.WriteAllLines(dir.File("d.jsonl"), [
                    JsonSerializer.Serialize(new { prompt = "a", path1 = Img("j1.png", 1), path2 = Img("j2.png", 2), label = 0 }),
                    JsonSerializer.Serialize(new { prompt = "b", path1 = Img("j3.png", 1), path2 = Img("j4.png", 2) }),
                ]);
                return (dir.File("d.jsonl"), "pair_accuracy", 0.5, mu);
            default:
                var fields = new DataField[] { new DataField<string>("caption"), new DataField<byte[]>("jpg_0"), new DataField<byte[]>("jpg_1"), new DataField<double>("label_0"), new DataField<double>("label_1") };
                using (var fs = File.Create(dir.File("d.parquet")))
                {
                    await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), fs);
                    using var rg = writer.CreateRowGroup();
                    await rg.WriteAsync((DataField<string>)fields[0], new[] { "p0", "p1", "p2" });
                    await rg.WriteAsync((DataField<byte[]>)fields[1], new[] { "x0"u8.ToArray(), "x1"u8.ToArray(), "x2"u8.ToArray() });
                    await rg.WriteAsync((DataField<byte[]>)fields[2], new[] { "y0"u8.ToArray(), "y1"u8.ToArray(), "y2"u8.ToArray() });
                    await rg.WriteAsync((DataField<double>)fields[3], (ReadOnlyMemory<double>)new[] { 1.0, 0.0, 0.5 });
                    await rg.WriteAsync((DataField<double>)fields[4], (ReadOnlyMemory<double>)new[] { 0.0, 1.0, 0.5 });
                }

                // Row 0: image 0 preferred and scored higher; row 1: image 1 preferred but scored lower; row 2: a tie.
                mu["row 0/jpg_0"] = 2;
                mu["row 0/jpg_1"] = 1;
                mu["row 1/jpg_0"] = 2;
                mu["row 1/jpg_1"] = 1;
                mu["row 2/jpg_0"] = 2;
                mu["row 2/jpg_1"] = 1;
                return (dir.File("d.parquet"), "pair_accuracy", 0.5, mu);
        }
    }

    [Theory]
    [InlineData("hpdv3")]
    [InlineData("imagereward")]
    [InlineData("hpdv2")]
    [InlineData("jsonl")]
    [InlineData("pickapic")]
    public async Task EvalRunsEndToEndWithAModelAndWithScores(string format)
    {
        using var dir = TestPaths.TempDir();
        var (data, metric, accuracy, mu) = await Build(dir, format);
        Directory.CreateDirectory(dir.File("model"));
        IScorer Loader(ScorerOptions _) => new FakeScorer(r => new Score(mu[r.Image.Name], 0));
        var (code, stdout, stderr) = await CliHarness.RunAsync(Loader, "eval", "--model", dir.File("model"), "--data", data, "--format", format, "--json", "--no-cache");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(metric, doc.RootElement.GetProperty("metric").GetString());
            Assert.Equal(accuracy, doc.RootElement.GetProperty("accuracy").GetDouble(), 12);
            Assert.Equal(format, doc.RootElement.GetProperty("protocol").GetProperty("format").GetString());

            // The paper's protocol per format (docs/evaluation.md#pair-accuracy): HPDv3 counts every listed pair, the others exclude ties.
            Assert.Equal(format == "hpdv3" ? "listed" : "exclude", doc.RootElement.GetProperty("protocol").GetProperty("ground_truth_ties").GetString());
        }

        File.WriteAllLines(dir.File("scores.jsonl"), mu.Select(kv => JsonSerializer.Serialize(new { image = kv.Key, mu = kv.Value })));
        (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--scores", dir.File("scores.jsonl"), "--data", data, "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(accuracy, doc.RootElement.GetProperty("accuracy").GetDouble(), 12);
        }
    }

    [Fact]
    public async Task EqualVotesCountAsListedUnlessExcludedOnRequest()
    {
        using var dir = TestPaths.TempDir();
        var (data, _, _, mu) = await Build(dir, "hpdv3");
        var records = JsonSerializer.Deserialize<List<JsonElement>>(File.ReadAllText(data))!.Select(e => (object)e).ToList();
        File.WriteAllText(dir.File("img/t1.png"), "t1");
        File.WriteAllText(dir.File("img/t2.png"), "t2");
        (mu["img/t1.png"], mu["img/t2.png"]) = (3, 1);
        records.Add(new { prompt = "t", path1 = "img/t1.png", path2 = "img/t2.png", choice_dist = new[] { 4, 4 } });
        File.WriteAllText(data, JsonSerializer.Serialize(records));
        File.WriteAllLines(dir.File("scores.jsonl"), mu.Select(kv => JsonSerializer.Serialize(new { image = kv.Key, mu = kv.Value })));

        var (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--scores", dir.File("scores.jsonl"), "--data", data, "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var root = doc.RootElement;
            Assert.Equal((3L, 2L, 1L), (root.GetProperty("pairs").GetInt64(), root.GetProperty("correct").GetInt64(), root.GetProperty("ground_truth_ties").GetInt64()));
            Assert.Equal("listed", root.GetProperty("protocol").GetProperty("ground_truth_ties").GetString());
            Assert.Contains("the default for hpdv3", root.GetProperty("protocol").GetProperty("ground_truth_ties_definition").GetString(), StringComparison.Ordinal);
        }

        (code, stdout, stderr) = await CliHarness.RunAsync("eval", "--scores", dir.File("scores.jsonl"), "--data", data, "--gt-ties", "exclude", "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            Assert.Equal(2, doc.RootElement.GetProperty("pairs").GetInt64());
            Assert.Equal("exclude", doc.RootElement.GetProperty("protocol").GetProperty("ground_truth_ties").GetString());
        }

        // 'listed' has no meaning where a tie lists no preferred image.
        var (rdata, _, _, rmu) = await Build(dir, "imagereward");
        File.WriteAllLines(dir.File("r.jsonl"), rmu.Select(kv => JsonSerializer.Serialize(new { image = kv.Key, mu = kv.Value })));
        (code, _, stderr) = await CliHarness.RunAsync("eval", "--scores", dir.File("r.jsonl"), "--data", rdata, "--gt-ties", "listed");
        Assert.Equal(CliApp.UserError, code);
        Assert.Contains("only to HPDv3", stderr, StringComparison.Ordinal);
    }
}
