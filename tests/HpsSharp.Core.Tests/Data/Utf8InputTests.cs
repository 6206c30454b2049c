using System.Text;
using HpsSharp.Core.Data;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Data;

/// <summary>Invalid UTF-8 (and lone surrogate escapes) in any text file is an error naming the file and line.</summary>
[Trait("Category", "Unit")]
public sealed class Utf8InputTests
{
    // Line 3 holds a Latin-1 'é' (0xE9), which is not UTF-8: today's readers silently turn it into U+FFFD.
    private static byte[] WithBadByte(string line1, string line2, string line3Before, string line3After) =>
        [.. Encoding.UTF8.GetBytes(line1 + "\n" + line2 + "\n" + line3Before), 0xE9, .. Encoding.UTF8.GetBytes(line3After + "\n")];

    [Fact]
    public void AManifestWithInvalidUtf8NamesTheLineInsteadOfAlteringThePrompt()
    {
        using var dir = TestPaths.TempDir();
        string manifest = dir.File("m.jsonl");
        File.WriteAllBytes(manifest, WithBadByte("{\"prompt\": \"a\", \"image\": \"a.png\"}", "", "{\"prompt\": \"caf", "\", \"image\": \"b.png\"}"));
        var ex = Assert.Throws<DatasetFormatException>(() => ScoreInputs.FromManifest(manifest));
        Assert.Equal((manifest, 3L), (ex.Path, ex.Line));
        Assert.Contains("invalid UTF-8 (byte 0xE9 at character 16)", ex.Message, StringComparison.Ordinal);

        // Valid UTF-8 with a BOM and CRLF line ends is read exactly.
        File.WriteAllBytes(manifest, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("{\"prompt\": \"café ☕\", \"image\": \"a.png\"}\r\n")]);
        Assert.Equal("café ☕", Assert.Single(ScoreInputs.FromManifest(manifest)).Prompt);

        File.WriteAllText(manifest, "{\"prompt\": \"\\ud800\", \"image\": \"a.png\"}\n");
        var lone = Assert.Throws<UserInputException>(() => ScoreInputs.FromManifest(manifest));
        Assert.Contains("m.jsonl:1", lone.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonlDatasetsWithInvalidUtf8NameTheLine()
    {
        using var dir = TestPaths.TempDir();
        string data = dir.File("d.jsonl");
        File.WriteAllBytes(data, WithBadByte("{\"prompt\": \"a\", \"path1\": \"x.png\", \"path2\": \"y.png\"}", "{\"prompt\": \"b\", \"path1\": \"x.png\", \"path2\": \"y.png\"}", "{\"prompt\": \"", "\", \"path1\": \"x.png\", \"path2\": \"y.png\"}"));
        var ex = Assert.Throws<DatasetFormatException>(() => JsonlReader.ReadPairs(data).ToList());
        Assert.Equal(3, ex.Line);
        Assert.Contains("invalid UTF-8", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonArrayDatasetsWithInvalidUtf8OrLoneSurrogatesNameTheLine()
    {
        using var dir = TestPaths.TempDir();
        string data = dir.File("test.json");
        File.WriteAllBytes(data, WithBadByte("[{\"prompt\": \"a\", \"path1\": \"x.png\", \"path2\": \"y.png\"},", "{\"prompt\": \"b\", \"path1\": \"x.png\", \"path2\": \"y.png\"},", "{\"prompt\": \"", "\", \"path1\": \"x.png\", \"path2\": \"y.png\"}]"));
        var ex = Assert.Throws<DatasetFormatException>(() => Hpdv3PairReader.Read(data).ToList());
        Assert.Equal(3, ex.Line);
        Assert.Contains("invalid UTF-8", ex.Reason, StringComparison.Ordinal);

        File.WriteAllText(data, "[\n{\"prompt\": \"\\udc00 x\", \"path1\": \"x.png\", \"path2\": \"y.png\"}]");
        var lone = Assert.Throws<DatasetFormatException>(() => Hpdv3PairReader.Read(data).ToList());
        Assert.Equal(2, lone.Line);
        Assert.Contains("'prompt' is not valid Unicode text", lone.Reason, StringComparison.Ordinal);
    }
}
