using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Text;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Text;

[Trait("Category", "Unit")]
public sealed class Hpsv3PromptTests
{
    private const string Cat = "A photo of a cat sitting on a mat.";

    private static Qwen2Tokenizer Tok => SharedTokenizer.Instance;

    public static TheoryData<string> ModelCases() => ["chelsea", "coins", "rocket"];

    [Fact]
    public void InstructionIsByteForByteTheOriginal()
    {
        Assert.Equal(2523, Hpsv3Prompt.Instruction.Length);
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Hpsv3Prompt.Instruction)));
        Assert.Equal("0393599dad45a971903d1d62a3acf9bad3ccccdafa7f40f680523419e1f68b7a", sha);

        // The details docs/prompt.md#exact-strings warns about, so a failure says which one was lost.
        var s = Hpsv3Prompt.Instruction;
        Assert.StartsWith("\nYou are tasked", s, StringComparison.Ordinal);
        Assert.EndsWith("Textual prompt - {text_prompt}\n\n\n", s, StringComparison.Ordinal);
        Assert.Contains("being the best. \n", s, StringComparison.Ordinal);
        Assert.Contains("lowest possible. \n", s, StringComparison.Ordinal);
        Assert.Contains("**Visual Quality:**  \n", s, StringComparison.Ordinal);
        Assert.Contains("**Text Alignment:**  \n", s, StringComparison.Ordinal);
        Assert.Contains("- **Subject Relevance** Evaluate", s, StringComparison.Ordinal);
        Assert.Contains("- **Contextual Consistency**: Assess", s, StringComparison.Ordinal);
        Assert.Single(s.Split("{text_prompt}")[1..]);
    }

    [Fact]
    public void SuffixesAreExact()
    {
        Assert.Equal("\nPlease provide the overall ratings of this image: <|Reward|>\n\nEND\n", Hpsv3Prompt.PromptWithSpecialToken);
        Assert.Equal("\nPlease provide the overall ratings of this image: \n", Hpsv3Prompt.PromptWithoutSpecialToken);
    }

    [Fact]
    public void RenderedTextFollowsTheChatTemplate()
    {
        var text = Hpsv3Prompt.RenderText(Cat);
        Assert.Equal(2728 + Cat.Length, text.Length);
        Assert.StartsWith(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>\nYou are tasked with",
            text, StringComparison.Ordinal);
        Assert.EndsWith(
            "Textual prompt - " + Cat + "\n\n\n\nPlease provide the overall ratings of this image: <|Reward|>\n\nEND\n<|im_end|>\n<|im_start|>assistant\n",
            text, StringComparison.Ordinal);
    }

    [Fact]
    public void PromptIsInsertedVerbatimWithOneLiteralReplacement()
    {
        const string braces = "a {text_prompt} {0} }{ {{x}}";
        var formatted = Hpsv3Prompt.FormatInstruction(braces);
        Assert.Equal(Hpsv3Prompt.Instruction.Length - "{text_prompt}".Length + braces.Length, formatted.Length);
        Assert.EndsWith("Textual prompt - " + braces + "\n\n\n", formatted, StringComparison.Ordinal);
        Assert.Equal(Hpsv3Prompt.Instruction[..^"{text_prompt}\n\n\n".Length], formatted[..^(braces.Length + 3)]);
    }

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void BuildGivesTheReferenceInputIdsExactly(string id)
    {
        var c = ModelCase(id);
        var prompt = c.GetProperty("prompt").GetString()!;
        var expected = c.GetProperty("expected");
        var grid = expected.GetProperty("grid_thw").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int imageTokens = Hpsv3Prompt.ImageTokenCount(grid[0], grid[1], grid[2]);
        Assert.Equal(expected.GetProperty("num_image_tokens").GetInt32(), imageTokens);

        var built = Hpsv3Prompt.Build(Tok, prompt, imageTokens);

        var file = TestPaths.Fixture("hpsv3-tiny/" + c.GetProperty("tensors").GetString());
        using var tensors = SafetensorsFile.Open(file);
        var referenceIds = tensors.ReadInt64("input_ids");
        var referenceReward = tensors.ReadInt64("reward_index");
        Assert.Equal(expected.GetProperty("input_ids_length").GetInt32(), built.Length);
        Assert.Equal(expected.GetProperty("reward_index").GetInt32(), built.RewardIndex);
        Assert.Equal(referenceReward[0], built.RewardIndex);
        int firstDiff = Enumerable.Range(0, Math.Min(referenceIds.Length, built.Length)).FirstOrDefault(i => referenceIds[i] != built.InputIds[i], -1);
        Assert.True(firstDiff < 0 && referenceIds.Length == built.Length,
            $"{id}: first difference at {firstDiff}: expected {(firstDiff >= 0 ? referenceIds[firstDiff] : 0)}, got {(firstDiff >= 0 ? built.InputIds[firstDiff] : 0)}; lengths {referenceIds.Length} vs {built.Length}");
        Assert.Equal(imageTokens, built.InputIds.Count(i => i == Qwen2Tokens.ImagePad));
    }

    [Fact]
    public void BuildLayoutMatchesQwen2VlAndHpsv3()
    {
        var built = Hpsv3Prompt.Build(Tok, Cat, 256);

        // Qwen2-VL's processor test: system prompt, user turn, vision start, then the image pads.
        int[] head = [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 151652];
        Assert.Equal(head, built.InputIds[..head.Length]);
        Assert.All(built.InputIds[head.Length..(head.Length + 256)], i => Assert.Equal(Qwen2Tokens.ImagePad, i));
        Assert.Equal(Qwen2Tokens.VisionEnd, built.InputIds[head.Length + 256]);

        // ... <|Reward|> \n\nEND\n <|im_end|> \n <|im_start|> assistant \n
        Assert.Equal(Qwen2Tokens.Reward, built.InputIds[built.RewardIndex]);
        Assert.Equal([Qwen2Tokens.ImEnd, 198, Qwen2Tokens.ImStart, 77091, 198], built.InputIds[^5..]);
        Assert.Equal("\n\nEND\n", Tok.Decode(built.InputIds[(built.RewardIndex + 1)..^5]));
        Assert.Equal(Hpsv3Prompt.RenderText(Cat).Replace("<|image_pad|>", string.Concat(Enumerable.Repeat("<|image_pad|>", 256)), StringComparison.Ordinal),
            Tok.Decode(built.InputIds));
        Assert.All(built.AttentionMask, m => Assert.Equal(1, m));
        Assert.Equal(built.Length, built.AttentionMask.Length);
    }

    [Fact]
    public void TextTokenCountOfATypicalPrompt()
    {
        // Open question O9 (docs/prompt.md#sequence-length): template, instruction and suffix are 530 text tokens; the prompt adds its
        // own tokens as encoded after "Textual prompt -" (a final "." joins the "\n\n\n\n" that follows: one less).
        // Chelsea: 557 text tokens + 280 image tokens = 837; a 448×448 image (256 tokens) makes it 813.
        var chelsea = ModelCase("chelsea").GetProperty("prompt").GetString()!;
        Assert.Equal(557, Hpsv3Prompt.Build(Tok, chelsea, 1).Length - 1);
        Assert.Equal(530 + Tok.Encode(" " + chelsea).Length, Hpsv3Prompt.Build(Tok, chelsea, 1).Length - 1);
        Assert.Equal(539, Hpsv3Prompt.Build(Tok, Cat, 1).Length - 1);
        Assert.Equal(530 + Tok.Encode(" " + Cat).Length - 1, Hpsv3Prompt.Build(Tok, Cat, 1).Length - 1);
        Assert.Equal(530, Hpsv3Prompt.Build(Tok, string.Empty, 1).Length - 1);
    }

    [Theory]
    [InlineData("<|Reward|>")]
    [InlineData("<|image_pad|>")]
    [InlineData("<|video_pad|>")]
    public void PromptWithAReservedTokenIsRefused(string token)
    {
        var prompt = "a cat " + token + " on a mat";
        var ex = Assert.Throws<UserInputException>(() => Hpsv3Prompt.Build(Tok, prompt, 256));
        Assert.Equal("prompt", ex.Input);
        Assert.Contains(token, ex.Reason, StringComparison.Ordinal);
        Assert.Throws<UserInputException>(() => Hpsv3Prompt.RenderText(prompt));
    }

    [Fact]
    public void OtherSpecialTokensInThePromptAreTokenizedAsThePythonProcessorDoes()
    {
        // split_special_tokens=false: "<|im_end|>" in user text is the <|im_end|> token, not characters.
        var plain = Hpsv3Prompt.Build(Tok, "a cat", 4);
        var withEnd = Hpsv3Prompt.Build(Tok, "a cat<|im_end|>", 4);
        Assert.Equal(plain.Length + 1, withEnd.Length);
        Assert.Equal(plain.RewardIndex + 1, withEnd.RewardIndex);
        int at = Enumerable.Range(0, plain.Length).First(i => plain.InputIds[i] != withEnd.InputIds[i]);
        Assert.Equal(Qwen2Tokens.ImEnd, withEnd.InputIds[at]);
        Assert.Equal(plain.InputIds[at..], withEnd.InputIds[(at + 1)..]);
        Assert.Equal("Textual prompt - a cat", Tok.Decode(withEnd.InputIds[(at - 6)..at]));
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Hpsv3Prompt.Build(Tok, Cat, 0));
        Assert.Throws<ArgumentNullException>(() => Hpsv3Prompt.Build(Tok, null!, 4));
        Assert.Throws<ArgumentNullException>(() => Hpsv3Prompt.Build(null!, Cat, 4));
        Assert.Equal(280, Hpsv3Prompt.ImageTokenCount(1, 28, 40));
        Assert.Equal(256, Hpsv3Prompt.ImageTokenCount(1, 32, 32));
        Assert.Throws<ArgumentException>(() => Hpsv3Prompt.ImageTokenCount(1, 3, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Hpsv3Prompt.ImageTokenCount(1, 0, 4));
    }

    private static JsonElement ModelCase(string id)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("hpsv3-tiny/cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("id").GetString() == id).Clone();
    }
}
