using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace HpsSharp.Core.Text;

/// <summary>
/// The Qwen2 byte-level BPE tokenizer (as used by Qwen2-VL and HPSv3), built on Microsoft.ML.Tokenizers.
/// Encoding follows the Python processor (the fast Hugging Face tokenizer, <c>split_special_tokens=false</c>):
/// added tokens such as <c>&lt;|im_start|&gt;</c> or <c>&lt;|Reward|&gt;</c> are matched verbatim (leftmost, longest)
/// before anything else and become one id each — also when they occur inside user text; every stretch between them is
/// NFC-normalised, split by the Qwen2 regex and merged by BPE rank. No BOS is added. Thread-safe after construction.
/// </summary>
public sealed partial class Qwen2Tokenizer
{
    /// <summary>The Qwen2 pre-tokenizer pattern (transformers <c>tokenization_qwen2.py</c> <c>PRETOKENIZE_REGEX</c>).</summary>
    public const string PreTokenizePattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _added;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _addedBySpan;
    private readonly Dictionary<int, string> _addedById;
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, string> _vocabById;
    private readonly Regex _addedMatcher;

    private Qwen2Tokenizer(string source, Dictionary<string, int> vocab, List<string> merges, Dictionary<string, int> added)
    {
        Source = source;
        _added = added;
        _addedBySpan = added.GetAlternateLookup<ReadOnlySpan<char>>();
        _addedById = added.ToDictionary(kv => kv.Value, kv => kv.Key);
        _vocab = vocab;
        _vocabById = new Dictionary<int, string>(vocab.Count);
        foreach (var (token, id) in vocab)
        {
            if (!_vocabById.TryAdd(id, token))
            {
                throw new TokenizerLoadException(source, $"vocabulary id {id} is used by both '{_vocabById[id]}' and '{token}'");
            }
        }

        // Longest first: .NET alternation takes the first alternative that matches at the leftmost position, which
        // then equals the leftmost-longest rule of the Hugging Face added-vocabulary matcher.
        var alternatives = added.Keys.OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal).Select(Regex.Escape);
        _addedMatcher = new Regex(string.Join("|", alternatives), RegexOptions.CultureInvariant | RegexOptions.Compiled);

        // ARCHITECTURE.md recipe: the added tokens go both to the BPE model and to the pre-tokenizer.
        // BpeTokenizer.Create(vocabFile, mergesFile) would use a whitespace pre-tokenizer and give wrong ids.
        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                SpecialTokens = new Dictionary<string, int>(added),
                PreTokenizer = new RegexPreTokenizer(PreTokenizeRegex(), added),
                Normalizer = NfcNormalizer.Instance,
            });
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
        {
            throw new TokenizerLoadException(source, $"the vocabulary and merges do not form a BPE model: {ex.Message}", ex);
        }
    }

    /// <summary>The file(s) the tokenizer was loaded from, for messages.</summary>
    public string Source { get; }

    /// <summary>The added (special) tokens and their ids, <c>&lt;|Reward|&gt;</c> included.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _added;

    /// <summary>The number of regular (BPE) vocabulary entries, added tokens not counted.</summary>
    public int VocabularyCount => _vocab.Count;

    /// <summary>
    /// Loads a tokenizer folder: <c>tokenizer.json</c> when present, else <c>vocab.json</c> + <c>merges.txt</c> with the
    /// added tokens of <c>tokenizer_config.json</c> (<c>added_tokens_decoder</c>) or <c>added_tokens.json</c>.
    /// Adds <c>&lt;|Reward|&gt;</c> = 151657 when absent, as HPSv3 does.
    /// </summary>
    /// <exception cref="TokenizerLoadException">Files missing or malformed, or ids that differ from Qwen2-VL's.</exception>
    public static Qwen2Tokenizer FromDirectory(string dir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        if (!Directory.Exists(dir))
        {
            throw new TokenizerLoadException(dir, "folder not found");
        }

        var tokenizerJson = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(tokenizerJson))
        {
            return FromTokenizerJson(tokenizerJson);
        }

        var vocabPath = Path.Combine(dir, "vocab.json");
        var mergesPath = Path.Combine(dir, "merges.txt");
        var missing = new[] { vocabPath, mergesPath }.Where(p => !File.Exists(p)).Select(Path.GetFileName).ToList();
        if (missing.Count > 0)
        {
            throw new TokenizerLoadException(dir, $"no tokenizer.json, and {string.Join(" and ", missing)} missing (need tokenizer.json, or vocab.json + merges.txt)");
        }

        // Added tokens first: a folder of another model family fails fast, before the large files are read.
        var added = ReadAddedTokens(dir);
        CheckAddedTokens(dir, added);
        var vocab = ReadVocab(vocabPath);
        var merges = ReadMergesText(mergesPath);
        return Create(dir, vocab, merges, added);
    }

    /// <summary>The ids of <paramref name="text"/>; added tokens inside it become their single ids.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 8);
        int pos = 0;
        foreach (var m in _addedMatcher.EnumerateMatches(text))
        {
            if (m.Index > pos)
            {
                EncodeOrdinary(text, pos, m.Index - pos, ids);
            }

            ids.Add(_addedBySpan[text.AsSpan(m.Index, m.Length)]);
            pos = m.Index + m.Length;
        }

        if (pos < text.Length)
        {
            EncodeOrdinary(text, pos, text.Length - pos, ids);
        }

        return [.. ids];
    }

    /// <summary>
    /// The text of <paramref name="ids"/>, added tokens written as their text (Python's default
    /// <c>skip_special_tokens=False</c>). Byte sequences that are not valid UTF-8 decode to U+FFFD.
    /// </summary>
    public string Decode(IEnumerable<int> ids) => Decode(ids, skipSpecialTokens: false);

    /// <summary>The text of <paramref name="ids"/>; with <paramref name="skipSpecialTokens"/> added tokens are left out.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id that is neither in the vocabulary nor an added token.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (_addedById.TryGetValue(id, out var special))
            {
                Flush(bytes, sb);
                if (!skipSpecialTokens)
                {
                    sb.Append(special);
                }

                continue;
            }

            var token = IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id {id} is not in the vocabulary of {Source}");
            ByteLevel.AppendBytes(token, bytes);
        }

        Flush(bytes, sb);
        return sb.ToString();

        static void Flush(List<byte> bytes, StringBuilder sb)
        {
            if (bytes.Count > 0)
            {
                // Encoding.UTF8 replaces invalid sequences with U+FFFD, like Python's errors="replace".
                sb.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
                bytes.Clear();
            }
        }
    }

    /// <summary>The id of a vocabulary token (in byte-level form, e.g. <c>Ġworld</c>) or an added token.</summary>
    /// <exception cref="ArgumentException">The token is unknown.</exception>
    public int TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return TryTokenToId(token, out int id)
            ? id
            : throw new ArgumentException($"token '{token}' is not in the vocabulary of {Source}", nameof(token));
    }

    /// <summary>The id of a vocabulary or added token, if known.</summary>
    public bool TryTokenToId(string token, out int id)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _added.TryGetValue(token, out id) || _vocab.TryGetValue(token, out id);
    }

    /// <summary>The token of an id (byte-level form for vocabulary tokens), or null when the id is unknown.</summary>
    public string? IdToToken(int id) =>
        _addedById.TryGetValue(id, out var special) ? special : _vocabById.TryGetValue(id, out var token) ? token : null;

    private void EncodeOrdinary(string text, int start, int length, List<int> ids)
    {
        var piece = start == 0 && length == text.Length ? text : text.Substring(start, length);
        ids.AddRange(_bpe.EncodeToIds(piece));
    }

    [GeneratedRegex(PreTokenizePattern, RegexOptions.CultureInvariant)]
    private static partial Regex PreTokenizeRegex();

    private static void CheckAddedTokens(string source, Dictionary<string, int> added)
    {
        foreach (var (text, id) in Qwen2Tokens.Required)
        {
            if (!added.TryGetValue(text, out int actual))
            {
                throw new TokenizerLoadException(source, $"added token {text} is missing (Qwen2-VL has it as id {id})");
            }

            if (actual != id)
            {
                throw new TokenizerLoadException(source, $"added token {text} has id {actual}; Qwen2-VL (and HPSv3) expect {id}");
            }
        }

        if (added.TryGetValue(Qwen2Tokens.RewardText, out int reward))
        {
            if (reward != Qwen2Tokens.Reward)
            {
                throw new TokenizerLoadException(source, $"{Qwen2Tokens.RewardText} has id {reward}; HPSv3 expects {Qwen2Tokens.Reward}");
            }
        }
        else if (added.FirstOrDefault(kv => kv.Value == Qwen2Tokens.Reward).Key is { } holder)
        {
            throw new TokenizerLoadException(source, $"id {Qwen2Tokens.Reward} is already taken by '{holder}', but HPSv3 needs it for {Qwen2Tokens.RewardText} (is this a Qwen2-VL tokenizer?)");
        }
    }

    private static Qwen2Tokenizer Create(string source, Dictionary<string, int> vocab, List<string> merges, Dictionary<string, int> added)
    {
        CheckAddedTokens(source, added);
        if (!added.ContainsKey(Qwen2Tokens.RewardText))
        {
            if (vocab.FirstOrDefault(kv => kv.Value == Qwen2Tokens.Reward).Key is { } holder)
            {
                throw new TokenizerLoadException(source, $"id {Qwen2Tokens.Reward} is already taken by '{holder}', but HPSv3 needs it for {Qwen2Tokens.RewardText} (is this a Qwen2-VL tokenizer?)");
            }

            added[Qwen2Tokens.RewardText] = Qwen2Tokens.Reward;
        }

        return new Qwen2Tokenizer(source, vocab, merges, added);
    }

    private static Qwen2Tokenizer FromTokenizerJson(string path)
    {
        JsonDocument doc;
        try
        {
            using var stream = File.OpenRead(path);
            doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw new TokenizerLoadException(path, $"not valid JSON: {ex.Message}", ex);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerLoadException(path, "no \"model\" object");
            }

            if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
            {
                throw new TokenizerLoadException(path, $"model type is \"{type.GetString()}\", expected \"BPE\"");
            }

            CheckPreTokenizer(path, root);

            if (!model.TryGetProperty("vocab", out var vocabEl) || vocabEl.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerLoadException(path, "model.vocab is missing or not an object");
            }

            var vocab = new Dictionary<string, int>(vocabEl.GetPropertyCount(), StringComparer.Ordinal);
            foreach (var p in vocabEl.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                {
                    throw new TokenizerLoadException(path, $"model.vocab entry '{p.Name}' is not a non-negative integer id");
                }

                vocab[p.Name] = id;
            }

            if (!model.TryGetProperty("merges", out var mergesEl) || mergesEl.ValueKind != JsonValueKind.Array)
            {
                throw new TokenizerLoadException(path, "model.merges is missing or not an array");
            }

            var merges = new List<string>(mergesEl.GetArrayLength());
            int index = 0;
            foreach (var m in mergesEl.EnumerateArray())
            {
                // tokenizers < 0.20 writes "a b"; newer versions write ["a", "b"].
                if (m.ValueKind == JsonValueKind.String)
                {
                    var s = m.GetString()!;
                    CheckMerge(path, s, index);
                    merges.Add(s);
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                    && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                {
                    merges.Add(m[0].GetString() + " " + m[1].GetString());
                }
                else
                {
                    throw new TokenizerLoadException(path, $"model.merges[{index}] is neither \"a b\" nor [\"a\", \"b\"]");
                }

                index++;
            }

            var added = new Dictionary<string, int>(StringComparer.Ordinal);
            if (root.TryGetProperty("added_tokens", out var addedEl) && addedEl.ValueKind == JsonValueKind.Array)
            {
                foreach (var t in addedEl.EnumerateArray())
                {
                    if (!t.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String
                        || !t.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out int id))
                    {
                        throw new TokenizerLoadException(path, "an added_tokens entry lacks a string \"content\" or an integer \"id\"");
                    }

                    AddToken(path, added, content.GetString()!, id);
                }
            }

            return Create(path, vocab, merges, added);
        }
    }

    private static void CheckPreTokenizer(string path, JsonElement root)
    {
        // A tokenizer.json of another model family (Llama, GPT-2, ...) would load but give wrong ids silently.
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var pattern in FindRegexPatterns(pre))
        {
            if (pattern != PreTokenizePattern)
            {
                throw new TokenizerLoadException(path, $"the pre-tokenizer regex is not Qwen2's: {pattern}");
            }
        }
    }

    private static IEnumerable<string> FindRegexPatterns(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in e.EnumerateObject())
            {
                if (p.Name == "Regex" && p.Value.ValueKind == JsonValueKind.String)
                {
                    yield return p.Value.GetString()!;
                }
                else
                {
                    foreach (var s in FindRegexPatterns(p.Value))
                    {
                        yield return s;
                    }
                }
            }
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in e.EnumerateArray())
            {
                foreach (var s in FindRegexPatterns(item))
                {
                    yield return s;
                }
            }
        }
    }

    private static Dictionary<string, int> ReadVocab(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
                ?? throw new TokenizerLoadException(path, "the file holds null, expected an object of token → id");
            return new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        }
        catch (JsonException ex)
        {
            throw new TokenizerLoadException(path, $"expected a JSON object of token → integer id: {ex.Message}", ex);
        }
    }

    private static List<string> ReadMergesText(string path)
    {
        var merges = new List<string>(160_000);
        int lineNo = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNo++;
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            CheckMerge(path, line, lineNo);
            merges.Add(line);
        }

        return merges;
    }

    private static void CheckMerge(string path, string merge, int where)
    {
        int space = merge.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
        {
            throw new TokenizerLoadException(path, $"merge {where} ('{merge}') is not two tokens separated by one space");
        }
    }

    private static Dictionary<string, int> ReadAddedTokens(string dir)
    {
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
                if (doc.RootElement.ValueKind == JsonValueKind.Object
                    && doc.RootElement.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
                {
                    foreach (var p in decoder.EnumerateObject())
                    {
                        if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id)
                            || !p.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                        {
                            throw new TokenizerLoadException(configPath, $"added_tokens_decoder entry '{p.Name}' needs an integer key and a string \"content\"");
                        }

                        AddToken(configPath, added, content.GetString()!, id);
                    }
                }
            }
            catch (JsonException ex)
            {
                throw new TokenizerLoadException(configPath, $"not valid JSON: {ex.Message}", ex);
            }
        }

        var addedPath = Path.Combine(dir, "added_tokens.json");
        if (added.Count == 0 && File.Exists(addedPath))
        {
            try
            {
                using var stream = File.OpenRead(addedPath);
                var map = JsonSerializer.Deserialize<Dictionary<string, int>>(stream) ?? [];
                foreach (var (content, id) in map)
                {
                    AddToken(addedPath, added, content, id);
                }
            }
            catch (JsonException ex)
            {
                throw new TokenizerLoadException(addedPath, $"expected a JSON object of token → integer id: {ex.Message}", ex);
            }
        }

        return added;
    }

    private static void AddToken(string path, Dictionary<string, int> added, string content, int id)
    {
        if (content.Length == 0)
        {
            throw new TokenizerLoadException(path, $"added token with id {id} has empty content");
        }

        if (added.TryGetValue(content, out int existing) && existing != id)
        {
            throw new TokenizerLoadException(path, $"added token {content} appears with two ids, {existing} and {id}");
        }

        added[content] = id;
    }

    /// <summary>GPT-2 byte-to-unicode table (docs/prompt.md#tokenizer), used to decode byte-level tokens.</summary>
    private static class ByteLevel
    {
        private static readonly Dictionary<char, byte> CharToByteMap = Build();

        public static void AppendBytes(string token, List<byte> bytes)
        {
            foreach (char c in token)
            {
                if (CharToByteMap.TryGetValue(c, out byte b))
                {
                    bytes.Add(b);
                }
                else
                {
                    // Not a byte-level character (a hand-edited vocabulary): keep it as its own UTF-8.
                    bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
                }
            }
        }

        private static Dictionary<char, byte> Build()
        {
            var map = new Dictionary<char, byte>(256);
            int n = 0;
            for (int b = 0; b < 256; b++)
            {
                bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
                map[printable ? (char)b : (char)(0x100 + n++)] = (byte)b;
            }

            return map;
        }
    }
}

/// <summary>Unicode NFC, the normaliser of Qwen2's <c>tokenizer.json</c>.</summary>
internal sealed class NfcNormalizer : Normalizer
{
    public static readonly NfcNormalizer Instance = new();

    public override string Normalize(string original) => Nfc.Normalize(original);

    public override string Normalize(ReadOnlySpan<char> original) => Nfc.Normalize(original.ToString());
}
