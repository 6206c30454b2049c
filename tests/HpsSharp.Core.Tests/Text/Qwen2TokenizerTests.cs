using System.Text.Json;
using HpsSharp.Core.Text;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Text;

[Trait("Category", "Unit")]
public sealed class Qwen2TokenizerTests
{
    private static Qwen2Tokenizer Tok => SharedTokenizer.Instance;

    public static TheoryData<string> CaseIds()
    {
        var data = new TheoryData<string>();
        foreach (var c in LoadCases().EnumerateArray())
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void EncodeMatchesReferenceIdsExactly(string id)
    {
        var c = Case(id);
        var text = c.GetProperty("text").GetString()!;
        var expected = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var actual = Tok.Encode(text);
        Assert.True(expected.SequenceEqual(actual), $"{id} {JsonSerializer.Serialize(text)}:\n expected [{string.Join(", ", expected)}]\n actual   [{string.Join(", ", actual)}]");
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void IdsMapToTheReferenceTokenStrings(string id)
    {
        var c = Case(id);
        var ids = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32());
        var tokens = c.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(tokens, ids.Select(i => Tok.IdToToken(i)).ToArray());
        Assert.Equal(c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()), tokens.Select(Tok.TokenToId));
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void DecodeGivesBackTheNfcText(string id)
    {
        var text = Case(id).GetProperty("text").GetString()!;
        Assert.Equal(Nfc.Normalize(text), Tok.Decode(Tok.Encode(text)));
    }

    [Fact]
    public void FixtureDeclaresTheRewardIdWeUse()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer/cases.json")));
        Assert.Equal(Qwen2Tokens.Reward, doc.RootElement.GetProperty("reward_token_id").GetInt32());
    }

    [Fact]
    public void DocstringExamplesAndKnownIds()
    {
        Assert.Equal([9707, 1879], Tok.Encode("Hello world"));
        Assert.Equal([21927, 1879], Tok.Encode(" Hello world"));
        Assert.Equal(8948, Tok.TokenToId("system"));
        Assert.Equal(198, Tok.TokenToId("Ċ"));
        Assert.Equal(872, Tok.TokenToId("user"));
        Assert.Equal(77091, Tok.TokenToId("assistant"));
        Assert.Equal(151643, Tok.VocabularyCount);
        Assert.Empty(Tok.Encode(string.Empty));
    }

    [Fact]
    public void AddedTokensHaveQwen2VlIdsAndRewardIsAdded()
    {
        Assert.Equal(Qwen2Tokens.Reward, Tok.TokenToId("<|Reward|>"));
        Assert.Equal(Qwen2Tokens.Pad, Tok.TokenToId("<|endoftext|>"));
        Assert.Equal(Qwen2Tokens.ImStart, Tok.TokenToId("<|im_start|>"));
        Assert.Equal(Qwen2Tokens.ImEnd, Tok.TokenToId("<|im_end|>"));
        Assert.Equal(Qwen2Tokens.VisionStart, Tok.TokenToId("<|vision_start|>"));
        Assert.Equal(Qwen2Tokens.VisionEnd, Tok.TokenToId("<|vision_end|>"));
        Assert.Equal(Qwen2Tokens.ImagePad, Tok.TokenToId("<|image_pad|>"));
        Assert.Equal(Qwen2Tokens.VideoPad, Tok.TokenToId("<|video_pad|>"));
        Assert.Equal(15, Tok.AddedTokens.Count);
        Assert.Equal("<|Reward|>", Tok.IdToToken(151657));
        Assert.Null(Tok.IdToToken(151658));
    }

    [Fact]
    public void UnknownTokenIsAnErrorNamingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tok.TokenToId("<|not_a_token|>"));
        Assert.Contains("<|not_a_token|>", ex.Message, StringComparison.Ordinal);
        Assert.False(Tok.TryTokenToId("<|not_a_token|>", out _));
    }

    [Fact]
    public void SpecialTokensInsideUserTextAreMatchedAtomically()
    {
        // As the Python processor (split_special_tokens=false): the text of an added token is that token, wherever it is.
        Assert.Equal([1318, 220, Qwen2Tokens.Reward, 803, 1467], Tok.Encode("text <|Reward|> more text"));
        Assert.Equal([Qwen2Tokens.ImEnd, Qwen2Tokens.ImEnd], Tok.Encode("<|im_end|><|im_end|>"));

        // Not quite a special token: ordinary BPE, no added id anywhere.
        var near = Tok.Encode("<|Reward|");
        Assert.DoesNotContain(near, id => id >= Qwen2Tokens.Pad);
        Assert.Equal("<|Reward|", Tok.Decode(near));
        Assert.DoesNotContain(Tok.Encode("<|reward|>"), id => id >= Qwen2Tokens.Pad);
    }

    [Fact]
    public void SpecialTokensAreMatchedBeforeNfc()
    {
        // ">" + U+0338 composes to U+226F under NFC. The fast Hugging Face tokenizer splits added tokens off before it
        // normalises, so "<|im_end|>" survives and the combining mark is encoded alone.
        var ids = Tok.Encode("<|im_end|>\u0338");
        Assert.Equal(Qwen2Tokens.ImEnd, ids[0]);
        Assert.Equal("<|im_end|>\u0338", Tok.Decode(ids));
        Assert.Equal(Tok.Encode("\u0338"), ids[1..]);
    }

    [Fact]
    public void NfcIsAppliedToOrdinaryText()
    {
        Assert.Equal(Tok.Encode("caf\u00e9"), Tok.Encode("cafe\u0301"));
        Assert.Equal(Tok.Encode("\uAC00"), Tok.Encode("\u1100\u1161"));
    }

    [Fact]
    public void DecodeCanSkipSpecialTokensAndReplacesBrokenUtf8()
    {
        var ids = Tok.Encode("<|im_start|>user\nhi<|im_end|>");
        Assert.Equal("user\nhi", Tok.Decode(ids, skipSpecialTokens: true));

        // 🐱 is three tokens ("ĠðŁ", "Ĳ", "±" after a space); the first two alone are an incomplete UTF-8 sequence.
        var cat = Tok.Encode(" 🐱");
        Assert.Equal(3, cat.Length);
        var partial = Tok.Decode(cat[..2]);
        Assert.StartsWith(" ", partial, StringComparison.Ordinal);
        Assert.Contains('\uFFFD', partial);

        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([5, 999_999]));
        Assert.Contains("999999", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnicodeClassesMatchTheRegexDefinition()
    {
        // NBSP and U+3000 are whitespace; Arabic-Indic and full-width digits are split one per token like ASCII digits.
        var nbsp = Tok.Encode("a\u00a0b");
        Assert.Equal("a\u00a0b", Tok.Decode(nbsp));
        Assert.Equal([.. Tok.Encode("\u0661"), .. Tok.Encode("\u0662"), .. Tok.Encode("\u0663")], Tok.Encode("\u0661\u0662\u0663"));
        Assert.Equal([.. Tok.Encode("\uff11"), .. Tok.Encode("\uff12")], Tok.Encode("\uff11\uff12"));
        var digits = Tok.Encode("123");
        Assert.Equal([16, 17, 18], digits);
        Assert.Equal("\u3000x", Tok.Decode(Tok.Encode("\u3000x")));
    }

    [Fact]
    public void TokenizerJsonGivesTheSameIdsAsVocabAndMerges()
    {
        using var tmp = TestPaths.TempDir();
        TokenizerFiles.WriteTokenizerJson(tmp.File("tokenizer.json"), pairMerges: true);
        var fromJson = Qwen2Tokenizer.FromDirectory(tmp.Path);
        Assert.EndsWith("tokenizer.json", fromJson.Source, StringComparison.Ordinal);
        foreach (var c in LoadCases().EnumerateArray())
        {
            var text = c.GetProperty("text").GetString()!;
            Assert.Equal(Tok.Encode(text), fromJson.Encode(text));
        }

        Assert.Equal(Qwen2Tokens.Reward, fromJson.TokenToId("<|Reward|>"));
        Assert.Equal(Tok.AddedTokens.OrderBy(kv => kv.Value), fromJson.AddedTokens.OrderBy(kv => kv.Value));
    }

    [Fact]
    public void TokenizerJsonMergesMayBeStringsOrPairs()
    {
        // tokenizers < 0.20 writes merges as "a b", newer versions as ["a", "b"]; a small byte-level model of both.
        using var tmp = TestPaths.TempDir();
        foreach (var pairs in new[] { false, true })
        {
            var dir = Path.Combine(tmp.Path, pairs ? "pairs" : "strings");
            Directory.CreateDirectory(dir);
            TokenizerFiles.WriteSmallTokenizerJson(Path.Combine(dir, "tokenizer.json"), pairs);
            var tok = Qwen2Tokenizer.FromDirectory(dir);
            int hello = tok.TokenToId("hello");
            int world = tok.TokenToId("Ġworld");
            Assert.Equal([hello, world, Qwen2Tokens.Reward], tok.Encode("hello world<|Reward|>"));
            Assert.Equal([tok.TokenToId("h"), tok.TokenToId("i")], tok.Encode("hi"));
        }
    }

    [Fact]
    public void AddedTokensJsonIsUsedWhenTokenizerConfigHasNone()
    {
        using var tmp = TestPaths.TempDir();
        TokenizerFiles.CopyVocabAndMerges(tmp.Path);
        File.Copy(Path.Combine(TestPaths.TokenizerDir, "added_tokens.json"), tmp.File("added_tokens.json"));
        var tok = Qwen2Tokenizer.FromDirectory(tmp.Path);
        Assert.Equal([151644, 872, 198, 6023, 151645, 198], tok.Encode("<|im_start|>user\nhi<|im_end|>\n"));
        Assert.Equal(15, tok.AddedTokens.Count);
    }

    [Fact]
    public void ExistingRewardTokenIsKeptWhenItHasTheRightId()
    {
        using var tmp = TestPaths.TempDir();
        TokenizerFiles.CopyVocabAndMerges(tmp.Path);
        var added = TokenizerFiles.Qwen2VlAddedTokens();
        added["<|Reward|>"] = 151657;
        File.WriteAllText(tmp.File("added_tokens.json"), JsonSerializer.Serialize(added));
        var tok = Qwen2Tokenizer.FromDirectory(tmp.Path);
        Assert.Equal([1318, 151657], tok.Encode("text<|Reward|>"));
    }

    [Fact]
    public void MissingFolderOrFilesAreReportedByName()
    {
        using var tmp = TestPaths.TempDir();
        var nowhere = tmp.File("nope");
        var ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(nowhere));
        Assert.Equal(nowhere, ex.Path);
        Assert.Contains("not found", ex.Reason, StringComparison.Ordinal);

        File.Copy(Path.Combine(TestPaths.TokenizerDir, "vocab.json"), tmp.File("vocab.json"));
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Contains("merges.txt", ex.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("vocab.json missing", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedFilesAreReportedWithTheFile()
    {
        using var tmp = TestPaths.TempDir();
        File.WriteAllText(tmp.File("tokenizer.json"), "{ not json");
        var ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.EndsWith("tokenizer.json", ex.Path, StringComparison.Ordinal);
        Assert.Contains("JSON", ex.Reason, StringComparison.Ordinal);

        File.WriteAllText(tmp.File("tokenizer.json"), """{"model": {"type": "Unigram", "vocab": []}}""");
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Contains("Unigram", ex.Reason, StringComparison.Ordinal);

        File.Delete(tmp.File("tokenizer.json"));
        File.Copy(Path.Combine(TestPaths.TokenizerDir, "added_tokens.json"), tmp.File("added_tokens.json"));
        File.WriteAllText(tmp.File("vocab.json"), "[1, 2]");
        File.WriteAllText(tmp.File("merges.txt"), "#version: 0.2\na b\n");
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.EndsWith("vocab.json", ex.Path, StringComparison.Ordinal);

        File.WriteAllText(tmp.File("vocab.json"), """{"a": 0, "b": 1, "ab": 2}""");
        File.WriteAllText(tmp.File("merges.txt"), "#version: 0.2\na b\nabc\n");
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.EndsWith("merges.txt", ex.Path, StringComparison.Ordinal);
        Assert.Contains("merge 3", ex.Reason, StringComparison.Ordinal);

        File.WriteAllText(tmp.File("merges.txt"), "#version: 0.2\na b\na zz\n");
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Equal(tmp.Path, ex.Path);
        Assert.Contains("zz", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenizerOfAnotherFamilyIsRefused()
    {
        using var tmp = TestPaths.TempDir();
        TokenizerFiles.WriteTokenizerJson(tmp.File("tokenizer.json"), pairMerges: false, regex: @"\s+|\w+");
        var ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Contains("regex", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void IdsThatDisagreeWithQwen2VlAreRefused()
    {
        using var tmp = TestPaths.TempDir();
        TokenizerFiles.CopyVocabAndMerges(tmp.Path);

        // Qwen2.5 tokenizers hold <tool_call> at 151657, where HPSv3 puts <|Reward|>.
        var added = TokenizerFiles.Qwen2VlAddedTokens();
        added["<tool_call>"] = 151657;
        File.WriteAllText(tmp.File("added_tokens.json"), JsonSerializer.Serialize(added));
        var ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Contains("<tool_call>", ex.Reason, StringComparison.Ordinal);
        Assert.Contains("151657", ex.Reason, StringComparison.Ordinal);

        added = TokenizerFiles.Qwen2VlAddedTokens();
        added["<|image_pad|>"] = 151700;
        File.WriteAllText(tmp.File("added_tokens.json"), JsonSerializer.Serialize(added));
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Contains("<|image_pad|>", ex.Reason, StringComparison.Ordinal);
        Assert.Contains("151655", ex.Reason, StringComparison.Ordinal);

        added = TokenizerFiles.Qwen2VlAddedTokens();
        added["<|Reward|>"] = 151658;
        File.WriteAllText(tmp.File("added_tokens.json"), JsonSerializer.Serialize(added));
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Contains("151658", ex.Reason, StringComparison.Ordinal);

        File.Delete(tmp.File("added_tokens.json"));
        ex = Assert.Throws<TokenizerLoadException>(() => Qwen2Tokenizer.FromDirectory(tmp.Path));
        Assert.Contains("missing", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ConcurrentEncodingGivesTheSameIds()
    {
        var texts = LoadCases().EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToArray();
        var expected = texts.Select(Tok.Encode).ToArray();
        Parallel.For(0, 400, i => Assert.Equal(expected[i % texts.Length], Tok.Encode(texts[i % texts.Length])));
    }

    private static JsonElement LoadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer/cases.json")));
        return doc.RootElement.GetProperty("cases").Clone();
    }

    private static JsonElement Case(string id) =>
        LoadCases().EnumerateArray().Single(e => e.GetProperty("id").GetString() == id);
}
