using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace HpsSharp.Core.Text.Clip;

/// <summary>Which original CLIP text front end to reproduce (SCORERS.md §1.2).</summary>
public enum ClipTokenizerFlavor
{
    /// <summary>HPSv2's open_clip fork: ftfy, HTML unescape twice, whitespace clean, Python <c>lower()</c>; specials <c>&lt;start_of_text&gt;</c>/<c>&lt;end_of_text&gt;</c>.</summary>
    OpenClip,

    /// <summary>openai/CLIP <c>clip.tokenize(truncate=True)</c>: the same cleaning, specials <c>&lt;|startoftext|&gt;</c>/<c>&lt;|endoftext|&gt;</c>.</summary>
    OpenAI,

    /// <summary>transformers <c>CLIPTokenizerFast</c>: NFC, whitespace runs to one space, per-character lowercase; no ftfy, no HTML unescape.</summary>
    HuggingFaceFast,
}

/// <summary>
/// CLIP's byte-level BPE (SCORERS.md §1.1) over <c>bpe_simple_vocab_16e6.txt.gz</c>, with the text cleaning of each
/// original front end. Ids are framed <c>[49406] + ids + [49407]</c> and truncated to the context (75 content ids),
/// not padded. Thread-safe. Known gap: ftfy's mojibake repair (<c>cafÃ©</c> → <c>café</c>) is not reproduced, and
/// HTML entities use .NET's table (HTML 4 names and numeric entities) where Python's covers every HTML5 name.
/// </summary>
public sealed partial class ClipTokenizer
{
    /// <summary>Start-of-text id.</summary>
    public const int SotId = 49406;

    /// <summary>End-of-text id (also the HF pad id).</summary>
    public const int EotId = 49407;

    /// <summary>Vocabulary size.</summary>
    public const int VocabSize = 49408;

    /// <summary>The file name of the vocabulary in a tokenizer folder.</summary>
    public const string VocabFileName = "bpe_simple_vocab_16e6.txt.gz";

    private const int MergeCount = 49152 - 256 - 2;

    private readonly Dictionary<string, int> _encoder;
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly string[] _byteChars;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private ClipTokenizer(Dictionary<string, int> encoder, Dictionary<(string, string), int> ranks, string[] byteChars)
    {
        _encoder = encoder;
        _ranks = ranks;
        _byteChars = byteChars;
    }

    /// <summary>Loads the vocabulary: <paramref name="path"/> is the <c>.txt.gz</c> file or a folder holding it.</summary>
    /// <exception cref="TokenizerLoadException">Missing or malformed.</exception>
    public static ClipTokenizer Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var file = Directory.Exists(path) ? Path.Combine(path, VocabFileName) : path;
        if (!File.Exists(file))
        {
            throw new TokenizerLoadException(file, $"CLIP vocabulary not found (expected {VocabFileName})");
        }

        List<string> lines;
        try
        {
            using var gz = new GZipStream(File.OpenRead(file), CompressionMode.Decompress);
            using var reader = new StreamReader(gz, Encoding.UTF8);
            lines = reader.ReadToEnd().Split('\n').ToList();
        }
        catch (InvalidDataException ex)
        {
            throw new TokenizerLoadException(file, $"not a gzip file ({ex.Message})", ex);
        }

        if (lines.Count < MergeCount + 1)
        {
            throw new TokenizerLoadException(file, $"{lines.Count} lines, but the CLIP vocabulary has a header and {MergeCount} merges");
        }

        var byteChars = BytesToUnicode();
        // The vocabulary lists the byte characters in bytes_to_unicode's order: printable bytes first, then the rest.
        var ordered = Enumerable.Range(0, 256).Where(IsPrintableByte).Concat(Enumerable.Range(0, 256).Where(b => !IsPrintableByte(b))).Select(b => byteChars[b]).ToList();
        var vocab = new List<string>(VocabSize);
        vocab.AddRange(ordered);
        vocab.AddRange(ordered.Select(c => c + "</w>"));
        var ranks = new Dictionary<(string, string), int>(MergeCount);
        for (int i = 0; i < MergeCount; i++)
        {
            var parts = lines[i + 1].Split(' ');
            if (parts.Length != 2)
            {
                throw new TokenizerLoadException(file, $"merge line {i + 2} is not two symbols");
            }

            ranks[(parts[0], parts[1])] = i;
            vocab.Add(parts[0] + parts[1]);
        }

        vocab.Add("<|startoftext|>");
        vocab.Add("<|endoftext|>");
        var encoder = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        for (int i = 0; i < vocab.Count; i++)
        {
            encoder[vocab[i]] = i;
        }

        return new ClipTokenizer(encoder, ranks, byteChars);
    }

    /// <summary>The text the pre-tokenizer splits, after the flavour's cleaning.</summary>
    public static string Clean(string text, ClipTokenizerFlavor flavor)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (flavor == ClipTokenizerFlavor.HuggingFaceFast)
        {
            var t = Whitespace().Replace(Nfc.Normalize(text), " ");
            return LowerPerCharacter(t);
        }

        // basic_clean: ftfy, html.unescape twice, strip; then whitespace_clean and str.lower().
        var s = Ftfy.FixText(text);
        s = WebUtility.HtmlDecode(WebUtility.HtmlDecode(s));
        s = Whitespace().Replace(PyStrip(s), " ");
        return PythonLower(PyStrip(s));
    }

    /// <summary>
    /// Token ids of <paramref name="text"/>: <c>[SOT] + BPE ids + [EOT]</c>, cut to <paramref name="contextLength"/>
    /// with the last id forced to EOT (open_clip's and HF's <c>truncation=True</c> give the same ids).
    /// </summary>
    public int[] Encode(string text, ClipTokenizerFlavor flavor, int contextLength = 77)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 2);
        var ids = new List<int> { SotId };
        var cleaned = Clean(text, flavor);
        if (flavor == ClipTokenizerFlavor.HuggingFaceFast)
        {
            // Added special tokens are split out of the normalised text first; the rest is pre-tokenised.
            int pos = 0;
            foreach (Match m in HfSpecial().Matches(cleaned))
            {
                EncodeChunk(cleaned[pos..m.Index], ids, specials: null);
                ids.Add(m.Value == "<|startoftext|>" ? SotId : EotId);
                pos = m.Index + m.Length;
            }

            EncodeChunk(cleaned[pos..], ids, specials: null);
        }
        else
        {
            EncodeChunk(cleaned, ids, flavor == ClipTokenizerFlavor.OpenClip ? ("<start_of_text>", "<end_of_text>") : ("<|startoftext|>", "<|endoftext|>"));
        }

        ids.Add(EotId);
        if (ids.Count > contextLength)
        {
            ids.RemoveRange(contextLength, ids.Count - contextLength);
            ids[^1] = EotId;
        }

        return [.. ids];
    }

    /// <summary>open_clip's <c>tokenize</c>: <see cref="Encode"/> padded with 0 to <paramref name="contextLength"/>.</summary>
    public long[] EncodePadded(string text, ClipTokenizerFlavor flavor, int contextLength = 77, int padId = 0)
    {
        var ids = Encode(text, flavor, contextLength);
        var padded = Enumerable.Repeat((long)padId, contextLength).ToArray();
        for (int i = 0; i < ids.Length; i++)
        {
            padded[i] = ids[i];
        }

        return padded;
    }

    /// <summary>The vocabulary string of an id.</summary>
    public string TokenOf(int id) => _encoder.First(kv => kv.Value == id).Key;

    private void EncodeChunk(string text, List<int> ids, (string Sot, string Eot)? specials)
    {
        if (text.Length == 0)
        {
            return;
        }

        var regex = specials switch
        {
            null => HfPattern(),
            { Sot: "<start_of_text>" } => OpenClipPattern(),
            _ => OpenAIPattern(),
        };
        foreach (Match m in regex.Matches(text))
        {
            var piece = m.Value;
            if (specials is { } sp && (string.Equals(piece, sp.Sot, StringComparison.OrdinalIgnoreCase) || string.Equals(piece, sp.Eot, StringComparison.OrdinalIgnoreCase)))
            {
                // The original looks the (case-preserved) match up in its cache of specials; the text is lower-case here.
                ids.Add(string.Equals(piece, sp.Sot, StringComparison.OrdinalIgnoreCase) ? SotId : EotId);
                continue;
            }

            ids.AddRange(_cache.GetOrAdd(piece, Bpe));
        }
    }

    private int[] Bpe(string piece)
    {
        var bytes = Encoding.UTF8.GetBytes(piece);
        var word = new List<string>(bytes.Length);
        foreach (var b in bytes)
        {
            word.Add(_byteChars[b]);
        }

        word[^1] += "</w>";
        while (word.Count > 1)
        {
            int best = int.MaxValue;
            (string, string) bestPair = default;
            for (int i = 0; i < word.Count - 1; i++)
            {
                if (_ranks.TryGetValue((word[i], word[i + 1]), out int r) && r < best)
                {
                    best = r;
                    bestPair = (word[i], word[i + 1]);
                }
            }

            if (best == int.MaxValue)
            {
                break;
            }

            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count;)
            {
                if (i < word.Count - 1 && word[i] == bestPair.Item1 && word[i + 1] == bestPair.Item2)
                {
                    merged.Add(bestPair.Item1 + bestPair.Item2);
                    i += 2;
                }
                else
                {
                    merged.Add(word[i]);
                    i++;
                }
            }

            word = merged;
        }

        return word.Select(w => _encoder[w]).ToArray();
    }

    /// <summary>GPT-2's byte → printable-character table: 188 printable Latin-1 bytes map to themselves, the rest to U+0100….</summary>
    private static string[] BytesToUnicode()
    {
        var result = new string[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            result[b] = IsPrintableByte(b) ? ((char)b).ToString() : ((char)(256 + n++)).ToString();
        }

        return result;
    }

    private static bool IsPrintableByte(int b) => b is (>= '!' and <= '~') or (>= 0xA1 and <= 0xAC) or (>= 0xAE and <= 0xFF);

    /// <summary>Rust's <c>char::to_lowercase</c> per code point (what the tokenizers library's Lowercase does): no final-sigma rule.</summary>
    private static string LowerPerCharacter(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value == 0x130)
            {
                sb.Append("i\u0307"); // İ lower-cases to two code points in Unicode's full mapping
                continue;
            }

            sb.Append(Rune.ToLowerInvariant(rune).ToString());
        }

        return sb.ToString();
    }

    /// <summary>Python's <c>str.lower()</c>: full mapping per code point plus the final-sigma rule for Σ.</summary>
    private static string PythonLower(string text)
    {
        var lower = LowerPerCharacter(text);
        if (!text.Contains('\u03a3', StringComparison.Ordinal))
        {
            return lower;
        }

        // Σ → ς when a cased letter precedes it (skipping case-ignorables) and none follows; LowerPerCharacter keeps
        // one char per BMP char except İ, so map positions on the original text.
        var chars = text.ToCharArray();
        var sb = new StringBuilder(lower.Length);
        for (int i = 0; i < chars.Length; i++)
        {
            if (chars[i] == '\u03a3')
            {
                sb.Append(FinalSigma(text, i) ? '\u03c2' : '\u03c3');
            }
            else
            {
                sb.Append(LowerPerCharacter(chars[i].ToString()));
            }
        }

        return sb.ToString();
    }

    private static bool FinalSigma(string text, int at)
    {
        bool before = false;
        for (int j = at - 1; j >= 0; j--)
        {
            if (IsCaseIgnorable(text[j]))
            {
                continue;
            }

            before = IsCased(text[j]);
            break;
        }

        if (!before)
        {
            return false;
        }

        for (int j = at + 1; j < text.Length; j++)
        {
            if (IsCaseIgnorable(text[j]))
            {
                continue;
            }

            return !IsCased(text[j]);
        }

        return true;
    }

    private static bool IsCased(char c) => char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(char c) => CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
        or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol || c is '\'' or '.' or ':' or '\u00b7' or '\u2019';

    /// <summary>Python's <c>str.strip()</c> with no argument (its whitespace includes U+001C–U+001F).</summary>
    private static string PyStrip(string s) => s.Trim(PyWhitespace);

    private static readonly char[] PyWhitespace = Enumerable.Range(0, 0x3001).Select(i => (char)i)
        .Where(c => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f').ToArray();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"<\|startoftext\|>|<\|endoftext\|>", RegexOptions.CultureInvariant)]
    private static partial Regex HfSpecial();

    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex HfPattern();

    [GeneratedRegex(@"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex OpenClipPattern();

    [GeneratedRegex(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex OpenAIPattern();
}
