using System.Text;
using HpsSharp.Core.Data;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Data;

[Trait("Category", "Unit")]
public sealed class Hpdv3PairReaderTests
{
    [Fact]
    public void ReadsAllFieldsIncludingNulls()
    {
        using var dir = TestPaths.TempDir();
        var file = dir.File("test.json");
        File.WriteAllText(file, """
            [
              {"prompt": "a cat", "choice_dist": [12, 7], "confidence": 0.9999907,
               "path1": "images/a.jpg", "path2": "images/b.jpg", "model1": "flux", "model2": "infinity"},
              {"prompt": "mj", "choice_dist": null, "confidence": null,
               "path1": "images/c.jpg", "path2": "images/d.jpg", "model1": "midjourney", "model2": "midjourney"},
              {"prompt": "test item", "path1": "x/1.png", "path2": "x/2.png", "model1": "sd3", "model2": "sdxl"}
            ]
            """);
        var pairs = Hpdv3PairReader.Read(file).ToList();
        Assert.Equal(new long[] { 2, 4, 6 }, Hpdv3PairReader.ReadRecords(file).Select(x => x.Line));
        Assert.Equal(3, pairs.Count);
        Assert.Equal(new Hpdv3Pair(0, "a cat", "images/a.jpg", "images/b.jpg", "flux", "infinity", pairs[0].ChoiceDist, 0.9999907) { HasConfidenceKey = true }, pairs[0]);
        Assert.Equal((true, false), (pairs[1].HasConfidenceKey, pairs[2].HasConfidenceKey));
        Assert.Equal(new[] { 12.0, 7.0 }, pairs[0].ChoiceDist);
        Assert.Null(pairs[1].ChoiceDist);
        Assert.Null(pairs[1].Confidence);
        Assert.Equal(2, pairs[2].Index);
        Assert.Null(pairs[2].Confidence);
    }

    [Fact]
    public void StreamsLargeFilesAcrossBufferBoundaries()
    {
        using var dir = TestPaths.TempDir();
        var file = dir.File("all.json");
        var sb = new StringBuilder("\uFEFF[\n");
        const int n = 5000;
        for (int i = 0; i < n; i++)
        {
            // Long prompts force records to straddle the reader's 64 KiB buffer, and one record is larger than it.
            string prompt = i == 1234 ? new string('p', 200_000) : "prompt " + i + new string('x', i % 97);
            sb.Append("  {\"prompt\": \"").Append(prompt).Append("\", \"path1\": \"a/").Append(i).Append(".jpg\",\n   \"path2\": \"b/").Append(i).Append(".jpg\"}");
            sb.Append(i + 1 < n ? ",\n" : "\n");
        }

        sb.Append("]\n");
        File.WriteAllText(file, sb.ToString(), new UTF8Encoding(false));
        int count = 0;
        foreach (var (p, line, _) in Hpdv3PairReader.ReadRecords(file))
        {
            Assert.Equal(count, p.Index);
            Assert.Equal($"a/{count}.jpg", p.Path1);
            Assert.Equal(2 + (2L * count), line);
            count++;
        }

        Assert.Equal(n, count);
    }

    [Theory]
    [InlineData("[\n{\"prompt\": \"p\", \"path1\": \"a\", \"path2\": \"b\"},\n{\"prompt\": \"p\", \"path2\": \"b\"}\n]", 3, "record 1: 'path1' is missing")]
    [InlineData("[\n{\"prompt\": \"p\", \"path1\": \"a\", \"path2\": 5}\n]", 2, "'path2' must be a string, found the number 5")]
    [InlineData("[\n{\"prompt\": \"p\", \"path1\": \"a\", \"path2\": \"b\", \"choice_dist\": [1]}\n]", 2, "'choice_dist' must hold two")]
    [InlineData("[\n{\"prompt\": \"p\", \"path1\": \"a\", \"path2\": \"b\", \"confidence\": \"high\"}\n]", 2, "'confidence' must be a number")]
    [InlineData("[\n{\"prompt\": \"p\", \"path1\": \"a\", \"path2\": \"b\"},\n\n{\"prompt\": \"p\" \"path1\": \"a\"}\n]", 4, "malformed JSON")]
    [InlineData("{\"prompt\": \"p\"}", 1, "expected a JSON array")]
    [InlineData("[\n{\"prompt\": \"p\", \"path1\": \"a\", \"path2\": \"b\"},\n", 3, "malformed JSON")]
    [InlineData("[\n\"just a string\"\n]", 2, "record 0: expected a JSON object")]
    [InlineData("[]\n[]", 2, "malformed JSON")]
    public void BadRecordsNameFileAndLine(string json, long line, string reason)
    {
        using var dir = TestPaths.TempDir();
        var file = dir.File("bad.json");
        File.WriteAllText(file, json);
        var ex = Assert.Throws<DatasetFormatException>(() => Hpdv3PairReader.Read(file).ToList());
        Assert.Equal(file, ex.Path);
        Assert.Equal(line, ex.Line);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{file}, line {line}: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyArrayHasNoPairsAndMissingFileIsClear()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("e.json"), " [ ] ");
        Assert.Empty(Hpdv3PairReader.Read(dir.File("e.json")));
        var ex = Assert.Throws<FileNotFoundException>(() => Hpdv3PairReader.Read(dir.File("nope.json")));
        Assert.Contains("nope.json", ex.Message, StringComparison.Ordinal);
    }
}
