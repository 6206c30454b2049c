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

    /// <summary>A byte-level BPE <c>tokenizer.json</c> with the 256 byte tokens and merges spelling "hello" and "Ġworld".</summary>
    public static void WriteSmallTokenizerJson(string path, bool pairMerges)
    {
        var vocab = new Dictionary<string, int>();
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            vocab[((char)(printable ? b : 0x100 + n++)).ToString()] = b;
        }

        string[][] merges = [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"], ["Ġ", "w"], ["o", "r"], ["Ġw", "or"], ["l", "d"], ["Ġwor", "ld"]];
        foreach (var m in merges)
        {
            vocab[m[0] + m[1]] = vocab.Count;
        }

        var added = Qwen2VlAddedTokens().Select(kv => new { id = kv.Value, content = kv.Key, special = true });
        var doc = new
        {
            added_tokens = added,
            pre_tokenizer = new { type = "Split", pattern = new { Regex = Qwen2Tokenizer.PreTokenizePattern } },
            model = new
            {
                type = "BPE",
                vocab,
                merges = pairMerges ? (object)merges : merges.Select(m => m[0] + " " + m[1]).ToArray(),
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc));
    }

    /// <summary>A <c>tokenizer.json</c> as the Hugging Face tokenizers library writes for Qwen2-VL.</summary>
    public static void WriteTokenizerJson(string path, bool pairMerges, string regex = Qwen2Tokenizer.PreTokenizePattern)
    {
        using var vocab = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.TokenizerDir, "vocab.json")));
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var (content, id) in Qwen2VlAddedTokens().OrderBy(kv => kv.Value))
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("normalizer");
        w.WriteString("type", "NFC");
        w.WriteEndObject();
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", regex);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteString("continuing_subword_prefix", string.Empty);
        w.WriteString("end_of_word_suffix", string.Empty);
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WritePropertyName("vocab");
        vocab.RootElement.WriteTo(w);
        w.WriteStartArray("merges");
        foreach (var line in File.ReadLines(Path.Combine(TestPaths.TokenizerDir, "merges.txt")).Skip(1).Where(l => l.Length > 0))
        {
            if (pairMerges)
            {
                var parts = line.Split(' ');
                w.WriteStartArray();
                w.WriteStringValue(parts[0]);
                w.WriteStringValue(parts[1]);
                w.WriteEndArray();
            }
            else
            {
                w.WriteStringValue(line);
            }
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
