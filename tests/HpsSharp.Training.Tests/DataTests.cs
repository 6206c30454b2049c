using HpsSharp.Core;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using Xunit;

namespace HpsSharp.Training.Tests;

[Trait("Category", "Unit")]
public sealed class DataTests
{
    private const string Hpdv3 = """
        [
          {"prompt": "a cat", "choice_dist": [12, 7], "confidence": 0.9999907, "path1": "images/a.jpg", "path2": "images/b.jpg", "model1": "flux", "model2": "infinity"},
          {"prompt": "a dog", "choice_dist": [10, 9], "confidence": 0.5, "path1": "images/c.jpg", "path2": "images/d.jpg"},
          {"prompt": "mj", "choice_dist": null, "confidence": null, "path1": "images/e.jpg", "path2": "images/f.jpg", "model1": "midjourney", "model2": "midjourney"},
          {"prompt": "no conf", "path1": "images/g.jpg", "path2": "images/h.jpg"},
          {"prompt": "broken", "path1": "images/i.jpg"},
          {"prompt": "escape", "path1": "../../etc/passwd", "path2": "images/j.jpg"},
          {"prompt": "bad conf", "confidence": "high", "path1": "images/k.jpg", "path2": "images/l.jpg"}
        ]
        """;

    [Fact]
    public void Hpdv3RowsAreFilteredAndCountedAsTheSpecSays()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("train.json"), Hpdv3);
        var report = new DataReport();
        var pairs = PairDataset.Load(dir.File("train.json"), PairFormat.Hpdv3, null, new PairDataOptions(), report);
        Assert.Equal(new[] { "a cat", "mj", "no conf" }, pairs.Select(p => p.Prompt));
        Assert.Equal(Path.Combine(dir.Path, "images", "a.jpg"), pairs[0].Preferred);
        Assert.Equal(new[] { 12.0, 7.0 }, pairs[0].ChoiceDist);
        Assert.Equal(7, report.Rows);
        Assert.Equal(3, report.Kept);
        Assert.Equal(1, report.BelowConfidence);
        Assert.Equal(1, report.NullConfidence);
        Assert.Equal(1, report.MissingConfidence);
        Assert.Equal(3, report.BadRows);
        Assert.Contains(report.Skipped, s => s.Row == 4 && s.Reason.Contains("path2", StringComparison.Ordinal));
        Assert.Contains(report.Skipped, s => s.Row == 5 && s.Reason.Contains("escapes", StringComparison.Ordinal));
        Assert.Contains(report.Skipped, s => s.Row == 6 && s.Reason.Contains("confidence", StringComparison.Ordinal));
    }

    [Fact]
    public void NullConfidenceHasAnExplicitPolicyAndStrictStopsAtBadRows()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("train.json"), Hpdv3);
        var drop = PairDataset.Load(dir.File("train.json"), PairFormat.Hpdv3, null, new PairDataOptions(NullConfidence: NullConfidencePolicy.Drop), new DataReport());
        Assert.DoesNotContain(drop, p => p.Prompt == "mj");
        var err = Assert.Throws<TrainingDataException>(() => PairDataset.Load(dir.File("train.json"), PairFormat.Hpdv3, null, new PairDataOptions(NullConfidence: NullConfidencePolicy.Error), new DataReport()));
        Assert.Equal(2, err.Row);
        var strict = Assert.Throws<TrainingDataException>(() => PairDataset.Load(dir.File("train.json"), PairFormat.Hpdv3, null, new PairDataOptions(ConfidenceThreshold: null, Strict: true), new DataReport()));
        Assert.Equal(4, strict.Row);
        var all = PairDataset.Load(dir.File("train.json"), PairFormat.Hpdv3, dir.File("root"), new PairDataOptions(ConfidenceThreshold: null), new DataReport());
        Assert.Equal(4, all.Count);
        Assert.StartsWith(dir.File("root"), all[0].Preferred, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonlAcceptsAliasesAndReportsBadLines()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllLines(dir.File("p.jsonl"), new[]
        {
            "{\"prompt\": \"x\", \"preferred\": \"a.png\", \"other\": \"b.png\"}",
            "",
            "{not json",
            "{\"prompt\": \"y\", \"path1\": \"c.png\", \"path2\": \"d.png\", \"confidence\": 0.96}",
        });
        var report = new DataReport();
        var pairs = PairDataset.Load(dir.File("p.jsonl"), PairFormat.Jsonl, null, new PairDataOptions(), report);
        Assert.Equal(new[] { 0L, 3L }, pairs.Select(p => p.Row));
        Assert.Equal(1, report.BadRows);
        Assert.Equal(2, report.Skipped[0].Row);
    }

    [Fact]
    public void TrainingAndEvaluationReadHpdv3RowsWithTheOneReader()
    {
        // Every row evaluation refuses, training skips with the same reason (and --strict stops there): one reader.
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("train.json"), """
            [
              {"prompt": "ok", "path1": "a.png", "path2": "b.png"},
              {"prompt": "votes", "path1": "a.png", "path2": "b.png", "choice_dist": [-1, 3]},
              {"prompt": 7, "path1": "a.png", "path2": "b.png"},
              {"prompt": "empty path", "path1": "", "path2": "b.png"}
            ]
            """);
        var report = new DataReport();
        var pairs = PairDataset.Load(dir.File("train.json"), PairFormat.Hpdv3, null, new PairDataOptions(), report);
        Assert.Equal("ok", Assert.Single(pairs).Prompt);
        Assert.Equal((4L, 3L), (report.Rows, report.BadRows));
        for (int row = 1; row <= 3; row++)
        {
            string single = dir.File($"one{row}.json");
            var records = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("train.json"))).RootElement.EnumerateArray().ToList();
            File.WriteAllText(single, "[" + records[0].GetRawText() + "," + records[row].GetRawText() + "]");
            var evalError = Assert.Throws<HpsSharp.Core.Data.DatasetFormatException>(() => HpsSharp.Core.Data.Hpdv3PairReader.ReadRecords(single).ToList());
            Assert.Equal(evalError.Reason, report.Skipped.Single(s => s.Row == row).Reason.Replace($"record {row}", "record 1", StringComparison.Ordinal));
        }

        var strict = Assert.Throws<TrainingDataException>(() => PairDataset.Load(dir.File("train.json"), PairFormat.Hpdv3, null, new PairDataOptions(Strict: true), new DataReport()));
        Assert.Equal(1, strict.Row);
        Assert.Contains("choice_dist", strict.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainingFilesWithInvalidUtf8NameTheLine()
    {
        using var dir = TestPaths.TempDir();
        byte[] bad = [.. System.Text.Encoding.UTF8.GetBytes("{\"prompt\": \"a\", \"path1\": \"a.png\", \"path2\": \"b.png\"}\n{\"prompt\": \"caf"), 0xE9, .. System.Text.Encoding.UTF8.GetBytes("\", \"path1\": \"a.png\", \"path2\": \"b.png\"}\n")];
        File.WriteAllBytes(dir.File("p.jsonl"), bad);
        var ex = Assert.Throws<HpsSharp.Core.Data.DatasetFormatException>(() => PairDataset.Load(dir.File("p.jsonl"), PairFormat.Jsonl, null, new PairDataOptions(), new DataReport()));
        Assert.Equal(2, ex.Line);
        Assert.Contains("invalid UTF-8", ex.Reason, StringComparison.Ordinal);

        File.WriteAllBytes(dir.File("t.json"), [(byte)'[', .. bad.Select(b => b == (byte)'\n' ? (byte)',' : b).SkipLast(1), (byte)']']);
        ex = Assert.Throws<HpsSharp.Core.Data.DatasetFormatException>(() => PairDataset.Load(dir.File("t.json"), PairFormat.Hpdv3, null, new PairDataOptions(), new DataReport()));
        Assert.Contains("invalid UTF-8", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongFormatAndMissingFileHaveClearErrors()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("p.jsonl"), "{\"prompt\": \"x\"}\n");
        var ex = Assert.Throws<TrainingDataException>(() => PairDataset.Load(dir.File("p.jsonl"), PairFormat.Hpdv3, null, new PairDataOptions(), new DataReport()));
        Assert.Contains("jsonl format", ex.Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => PairDataset.Load(dir.File("none.json"), PairFormat.Hpdv3, null, new PairDataOptions(), new DataReport()));
    }

    [Fact]
    public void SamplerIsSeededPerEpochAndSeeksToAPosition()
    {
        var p0 = PairSampler.Permutation(50, 7, 0);
        Assert.Equal(p0, PairSampler.Permutation(50, 7, 0));
        Assert.NotEqual(p0, PairSampler.Permutation(50, 7, 1));
        Assert.NotEqual(p0, PairSampler.Permutation(50, 8, 0));
        Assert.Equal(Enumerable.Range(0, 50), p0.Order());
        var s = new PairSampler(50, 7);
        for (int i = 0; i < 20; i++)
        {
            s.Next();
        }

        var t = new PairSampler(50, 7);
        t.Seek(0, 20);
        Assert.Equal(s.Next(), t.Next());
        s.NextEpoch();
        Assert.Equal(PairSampler.Permutation(50, 7, 1)[0], s.Next());
    }

    [Fact]
    public void OptionsComeFromJsonWithClearValidation()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("c.json"), """{"model": "m", "data": "d.json", "out": "o", "lr": 1e-5, "batch-size": 3, "loss": "btt", "tie-threshold": 0.1}""");
        var o = TrainingOptions.FromJsonFile(dir.File("c.json"));
        o.Validate();
        Assert.Equal(1e-5, o.LearningRate);
        Assert.Equal(3, o.BatchSize);
        Assert.Equal(4, o.GradAccum);
        Assert.Equal(Losses.LossKind.BradleyTerryWithTies, o.Loss);
        Assert.Equal(o, TrainingOptions.FromJsonFile(Write(dir, "d.json", o.ToJson())));

        File.WriteAllText(dir.File("bad.json"), """{"learning-rate": 1e-5}""");
        var ex = Assert.Throws<UserInputException>(() => TrainingOptions.FromJsonFile(dir.File("bad.json")));
        Assert.Contains("learning-rate", ex.Message, StringComparison.Ordinal);

        // Errors name the field, never a command-line flag.
        Assert.Equal("BatchSize: must be ≥ 1 (got 0)", Assert.Throws<UserInputException>(() => (o with { BatchSize = 0 }).Validate()).Message);
        Assert.Equal(nameof(TrainingOptions.Loss), Assert.Throws<UserInputException>(() => (o with { Loss = (Losses.LossKind)99 }).Validate()).Field);
        Assert.Equal("Data: is required", Assert.Throws<UserInputException>(() => (o with { Data = null }).Validate()).Message);
        Assert.Equal(nameof(TrainingOptions.NullConfidence), Assert.Throws<UserInputException>(() => (o with { NullConfidence = (NullConfidencePolicy)7 }).Validate()).Field);
        Assert.Equal(nameof(TrainingOptions.Device), Assert.Throws<UserInputException>(() => (o with { Device = new DeviceSpec(ComputeDevice.Cuda, -1) }).Validate()).Field);
        var same = o with { Model = dir.File("m"), Out = dir.File("m") + "/" };
        Assert.Contains("is the input model folder", Assert.Throws<UserInputException>(() => same.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("give one of them", Assert.Throws<UserInputException>(() => (o with { Resume = true, Overwrite = true }).Validate()).Message, StringComparison.Ordinal);
    }

    private static string Write(TempDir dir, string name, string text)
    {
        File.WriteAllText(dir.File(name), text);
        return dir.File(name);
    }
}
