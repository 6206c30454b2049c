using System.Globalization;
using System.Text;

namespace HpsSharp.Core.Text.Bert;

/// <summary>
/// transformers' slow <c>BertTokenizer</c> for <c>bert-base-uncased</c> with BLIP's added tokens (IMAGEREWARD.md §3):
/// per-character lower-casing outside the special strings, split on <c>[PAD] [UNK] [CLS] [SEP] [MASK] [DEC] [ENC]</c>,
/// BasicTokenizer (control characters dropped, CJK ideographs spaced, accents stripped by NFD, punctuation split)
/// and greedy WordPiece; <c>[CLS] + ids[..max−2] + [SEP]</c> padded with 0.
/// </summary>
public sealed class BertTokenizer
{
    /// <summary>[PAD].</summary>
    public const int PadId = 0;

    /// <summary>[UNK].</summary>
    public const int UnkId = 100;

    /// <summary>[CLS].</summary>
    public const int ClsId = 101;

    /// <summary>[SEP].</summary>
    public const int SepId = 102;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int> _specials;

    private BertTokenizer(Dictionary<string, int> vocab, Dictionary<string, int> specials)
    {
        _vocab = vocab;
        _specials = specials;
    }

    /// <summary>Loads <c>vocab.txt</c> (line index = id) and <c>added_tokens.json</c> (BLIP's <c>[DEC]</c>, <c>[ENC]</c>) from a folder.</summary>
    public static BertTokenizer Load(string dir)
    {
        ArgumentException.ThrowIfNullOrEmpty(dir);
        var vocabPath = Path.Combine(dir, "vocab.txt");
        if (!File.Exists(vocabPath))
        {
            throw new TokenizerLoadException(vocabPath, "BERT vocabulary not found (vocab.txt)");
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        int id = 0;
        foreach (var line in File.ReadLines(vocabPath))
        {
            vocab.TryAdd(line.TrimEnd('\r'), id++);
        }

        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" })
        {
            if (!vocab.TryGetValue(s, out int sid))
            {
                throw new TokenizerLoadException(vocabPath, $"the vocabulary has no {s}");
            }

            specials[s] = sid;
        }

        var added = Path.Combine(dir, "added_tokens.json");
        if (File.Exists(added))
        {
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(added));
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    specials[p.Name] = p.Value.GetInt32();
                }
            }
            catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or FormatException)
            {
                throw new TokenizerLoadException(added, $"not a {{\"token\": id}} object ({ex.Message})", ex);
            }
        }

        return new BertTokenizer(vocab, specials);
    }

    /// <summary>Ids without [CLS]/[SEP] and untruncated.</summary>
    public List<int> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        var chunk = new StringBuilder();
        int i = 0;
        while (i < text.Length)
        {
            // Leftmost, longest special string (case-sensitive) first; everything else lower-cased one character at a time.
            var special = _specials.Keys.Where(s => string.CompareOrdinal(text, i, s, 0, s.Length) == 0).OrderByDescending(s => s.Length).FirstOrDefault();
            if (special is not null)
            {
                Basic(chunk.ToString(), ids);
                chunk.Clear();
                ids.Add(_specials[special]);
                i += special.Length;
                continue;
            }

            int len = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            var one = text.Substring(i, len);
            chunk.Append(one == "\n" ? one : LowerOne(one));
            i += len;
        }

        Basic(chunk.ToString(), ids);
        return ids;
    }

    /// <summary>
    /// <c>tokenizer(text, padding='max_length', truncation=True, max_length)</c>: ids and attention mask of exactly
    /// <paramref name="maxLength"/> entries.
    /// </summary>
    public (long[] Ids, long[] Mask) Encode(string text, int maxLength = 35)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var content = Tokenize(text);
        if (content.Count > maxLength - 2)
        {
            content.RemoveRange(maxLength - 2, content.Count - (maxLength - 2));
        }

        var ids = new long[maxLength];
        var mask = new long[maxLength];
        ids[0] = ClsId;
        for (int k = 0; k < content.Count; k++)
        {
            ids[k + 1] = content[k];
        }

        ids[content.Count + 1] = SepId;
        for (int k = 0; k < content.Count + 2; k++)
        {
            mask[k] = 1;
        }

        return (ids, mask);
    }

    private void Basic(string text, List<int> ids)
    {
        if (text.Length == 0)
        {
            return;
        }

        // clean + CJK spacing
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            int cp = rune.Value;
            var cat = Rune.GetUnicodeCategory(rune);
            if (cp is 0 or 0xFFFD)
            {
                continue;
            }

            if (cp is '\t' or '\n' or '\r' || cat == UnicodeCategory.SpaceSeparator)
            {
                sb.Append(' ');
                continue;
            }

            if (cat is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate)
            {
                continue;
            }

            if (IsCjk(cp))
            {
                sb.Append(' ').Append(rune.ToString()).Append(' ');
            }
            else
            {
                sb.Append(rune.ToString());
            }
        }

        foreach (var word in PySplit(sb.ToString()))
        {
            // lower() then strip accents (NFD, drop Mn), then split punctuation.
            var lowered = LowerOne(word);
            var stripped = new StringBuilder();
            foreach (var r in Nfc.Decompose(lowered).EnumerateRunes())
            {
                if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark)
                {
                    stripped.Append(r.ToString());
                }
            }

            var piece = new StringBuilder();
            foreach (var r in stripped.ToString().EnumerateRunes())
            {
                if (IsPunctuation(r))
                {
                    Flush(piece, ids);
                    WordPiece(r.ToString(), ids);
                }
                else
                {
                    piece.Append(r.ToString());
                }
            }

            Flush(piece, ids);
        }
    }

    private void Flush(StringBuilder piece, List<int> ids)
    {
        foreach (var w in PySplit(piece.ToString()))
        {
            WordPiece(w, ids);
        }

        piece.Clear();
    }

    private void WordPiece(string word, List<int> ids)
    {
        var runes = word.EnumerateRunes().Select(r => r.ToString()).ToArray();
        if (runes.Length > 100)
        {
            ids.Add(UnkId);
            return;
        }

        var pieces = new List<int>();
        int start = 0;
        while (start < runes.Length)
        {
            int end = runes.Length;
            int found = -1;
            while (start < end)
            {
                var sub = string.Concat(runes[start..end]);
                if (start > 0)
                {
                    sub = "##" + sub;
                }

                if (_vocab.TryGetValue(sub, out int id))
                {
                    found = id;
                    break;
                }

                end--;
            }

            if (found < 0)
            {
                ids.Add(UnkId);
                return;
            }

            pieces.Add(found);
            start = end;
        }

        ids.AddRange(pieces);
    }

    /// <summary>Python's <c>str.lower()</c> on text without Σ context: per code point, full mapping.</summary>
    private static string LowerOne(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var r in s.EnumerateRunes())
        {
            sb.Append(r.Value == 0x130 ? "i\u0307" : Rune.ToLowerInvariant(r).ToString());
        }

        return sb.ToString();
    }

    /// <summary>Python's <c>str.split()</c>: runs of whitespace (Unicode White_Space plus U+001C–U+001F) separate words.</summary>
    private static IEnumerable<string> PySplit(string s)
    {
        var word = new StringBuilder();
        foreach (var r in s.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(r) || r.Value is >= 0x1c and <= 0x1f)
            {
                if (word.Length > 0)
                {
                    yield return word.ToString();
                    word.Clear();
                }
            }
            else
            {
                word.Append(r.ToString());
            }
        }

        if (word.Length > 0)
        {
            yield return word.ToString();
        }
    }

    private static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126))
        {
            return true;
        }

        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsCjk(int cp) => cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
        or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF) or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
