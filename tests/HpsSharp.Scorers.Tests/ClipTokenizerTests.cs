using System.Text.Json;
using HpsSharp.Core.Text.Clip;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Scorers.Tests;

[Trait("Category", "Unit")]
public sealed class ClipTokenizerTests
{
    private static readonly Lazy<ClipTokenizer> Tokenizer = new(() => ClipTokenizer.Load(TestPaths.Asset("clip-tokenizer")));

    private static readonly Lazy<JsonElement[]> Cases = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("scorers/clip-tokenizer/cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.Clone()).ToArray();
    });

    public static TheoryData<string> CaseIds()
    {
        var data = new TheoryData<string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("scorers/clip-tokenizer/cases.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void EveryFlavourGivesTheGoldenIds(string id)
    {
        var c = Cases.Value.Single(x => x.GetProperty("id").GetString() == id);
        var text = c.GetProperty("text").GetString()!;

        // HF fast: no ftfy, so every case is in scope.
        var hf = c.GetProperty("hf_fast");
        Assert.Equal(hf.GetProperty("cleaned").GetString(), ClipTokenizer.Clean(text, ClipTokenizerFlavor.HuggingFaceFast));
        Assert.Equal(Ids(hf), Tokenizer.Value.Encode(text, ClipTokenizerFlavor.HuggingFaceFast));

        // open_clip / OpenAI: the port has no mojibake repair (documented); those cases are checked to differ only there.
        bool lite = c.GetProperty("ftfy_lite_matches_ftfy").GetBoolean();
        var oc = c.GetProperty("openclip");
        var openClip = Tokenizer.Value.Encode(text, ClipTokenizerFlavor.OpenClip);
        if (!lite)
        {
            Assert.NotEqual(Ids(oc), openClip);
            return;
        }

        Assert.Equal(oc.GetProperty("cleaned").GetString(), ClipTokenizer.Clean(text, ClipTokenizerFlavor.OpenClip));
        Assert.Equal(Ids(oc), openClip);
        Assert.Equal(c.GetProperty("openclip_padded_77").EnumerateArray().Select(e => e.GetInt64()), Tokenizer.Value.EncodePadded(text, ClipTokenizerFlavor.OpenClip));
        var openAi = c.GetProperty("openai").ValueKind == JsonValueKind.Null ? oc : c.GetProperty("openai");
        Assert.Equal(Ids(openAi), Tokenizer.Value.Encode(text, ClipTokenizerFlavor.OpenAI));
    }

    [Fact]
    public void TheCheckFromOpenAisNotebook()
    {
        Assert.Equal([49406, 3306, 1002, 256, 49407], Tokenizer.Value.Encode("Hello World!", ClipTokenizerFlavor.OpenAI));
    }

    [Fact]
    public void AMissingVocabularyIsAOneLineErrorNamingTheFile()
    {
        using var dir = TestPaths.TempDir();
        var ex = Assert.Throws<HpsSharp.Core.Text.TokenizerLoadException>(() => ClipTokenizer.Load(dir.Path));
        Assert.Contains(ClipTokenizer.VocabFileName, ex.Message, StringComparison.Ordinal);
    }

    private static int[] Ids(JsonElement flavour) => flavour.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
}
