using System.Text.Json;
using HpsSharp.Core.Text;
using HpsSharp.Testing;

namespace HpsSharp.Core.Tests.Text;

/// <summary>Builds tokenizer folders in other layouts from the shared Qwen2-VL files.</summary>
internal static class TokenizerFiles
{
    public static void CopyVocabAndMerges(string dir)
    {
        File.Copy(Path.Combine(TestPaths.TokenizerDir, "vocab.json"), Path.Combine(dir, "vocab.json"));
        File.Copy(Path.Combine(TestPaths.TokenizerDir, "merges.txt"), Path.Combine(dir, "merges.txt"));
    }

    public static Dictionary<string, int> Qwen2VlAddedTokens()
    {
        var json = File.ReadAllText(Path.Combine(TestPaths.TokenizerDir, "added_tokens.json"));
        return JsonSerializer.Deserialize<Dictionary<string, int>>(json)!;
    }

    /// <summary>A <c>tokenizer.json</c> as the Hugging Face tokenizers library writes for Qwen2-VL.</summary>
    public static void WriteTokenizerJson(string path, bool pairMerges, string regex = Qwen2Tokenizer.PreTokenizePattern)
    {
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(Path.Combine(TestPaths.TokenizerDir, "vocab.json")))!;
        var merges = File.ReadLines(Path.Combine(TestPaths.TokenizerDir, "merges.txt")).Skip(1).Where(l => l.Length > 0).ToList();
        var added = Qwen2VlAddedTokens().OrderBy(kv => kv.Value).Select(kv => new Dictionary<string, object>
        {
            ["id"] = kv.Value, ["content"] = kv.Key, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        });
        var doc = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = new { type = "NFC" },
            ["pre_tokenizer"] = new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = regex }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
                },
            },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "",
                ["end_of_word_suffix"] = "", ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab,
                ["merges"] = pairMerges ? merges.Select(m => m.Split(' ')).ToList() : merges,
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc));
    }
}
