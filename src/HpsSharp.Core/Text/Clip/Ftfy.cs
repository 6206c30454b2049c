using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace HpsSharp.Core.Text.Clip;

/// <summary>
/// ftfy 6.3.1's default <c>fix_text</c> without mojibake repair (SCORERS.md §1.2 "ftfy in a port"): per line, in
/// ftfy's order — HTML entities (switched off from the first line holding <c>&lt;</c>), C1 controls read as
/// Windows-1252, Latin ligatures, full-width forms, curly quotes, line breaks, lone surrogates, terminal escapes,
/// control characters, NFC — repeated until the text stops changing. <c>cafÃ©</c>-style mojibake is left as it is.
/// </summary>
public static partial class Ftfy
{
    private static readonly Dictionary<char, string> Ligatures = new()
    {
        ['\u0132'] = "IJ", ['\u0133'] = "ij", ['\u0149'] = "\u02bcn", ['\u01f1'] = "DZ", ['\u01f2'] = "Dz", ['\u01f3'] = "dz",
        ['\u01c4'] = "D\u017d", ['\u01c5'] = "D\u017e", ['\u01c6'] = "d\u017e", ['\u01c7'] = "LJ", ['\u01c8'] = "Lj", ['\u01c9'] = "lj",
        ['\u01ca'] = "NJ", ['\u01cb'] = "Nj", ['\u01cc'] = "nj", ['\ufb00'] = "ff", ['\ufb01'] = "fi", ['\ufb02'] = "fl",
        ['\ufb03'] = "ffi", ['\ufb04'] = "ffl", ['\ufb05'] = "\u017ft", ['\ufb06'] = "st",
    };

    private static readonly Encoding Windows1252 = CreateWindows1252();

    /// <summary>Fixes <paramref name="text"/> as <c>ftfy.fix_text</c> does (without <c>fix_encoding</c>).</summary>
    public static string FixText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new StringBuilder(text.Length);
        bool unescape = true;
        int pos = 0;
        while (pos < text.Length)
        {
            int nl = text.IndexOf('\n', pos);
            int end = nl < 0 ? text.Length : nl + 1;
            var line = text[pos..end];
            if (line.Contains('<', StringComparison.Ordinal))
            {
                unescape = false;
            }

            output.Append(FixSegment(line, unescape));
            pos = end;
        }

        return output.ToString();
    }

    private static string FixSegment(string text, bool unescapeHtml)
    {
        for (int round = 0; round < 32; round++)
        {
            var before = text;
            if (unescapeHtml && text.Contains('&', StringComparison.Ordinal))
            {
                text = HtmlEntity().Replace(text, m => UnescapeEntity(m.Value));
            }

            text = FixC1Controls(text);
            text = Map(text, c => Ligatures.TryGetValue(c, out var s) ? s : null);
            text = Map(text, c => c == '\u3000' ? " " : c is >= '\uff01' and <= '\uffef' ? HalfAndFullWidth(c) : null);
            text = Map(text, c => c is '\u02bc' or (>= '\u2018' and <= '\u201b') ? "'" : c is >= '\u201c' and <= '\u201f' ? "\"" : null);
            text = text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n').Replace('\u2028', '\n').Replace('\u2029', '\n').Replace('\u0085', '\n');
            text = FixSurrogates(text);
            text = TerminalEscape().Replace(text, string.Empty);
            text = Map(text, c => IsRemovedControl(c) ? string.Empty : null);
            text = Nfc.Normalize(text);
            if (text == before)
            {
                return text;
            }
        }

        return text;
    }

    /// <summary>One <c>&amp;…;</c> entity: named (also the all-caps spelling of a lower-case name) or numeric.</summary>
    private static string UnescapeEntity(string entity)
    {
        var decoded = WebUtility.HtmlDecode(entity);
        if (decoded == entity && entity.Length > 2 && entity[1] != '#' && entity.ToUpperInvariant() == entity)
        {
            var lower = WebUtility.HtmlDecode(entity.ToLowerInvariant());
            if (lower != entity.ToLowerInvariant())
            {
                return lower;
            }
        }

        return decoded;
    }

    private static string FixC1Controls(string text)
    {
        if (!text.Any(c => c is >= '\u0080' and <= '\u009f'))
        {
            return text;
        }

        return Map(text, c => c is >= '\u0080' and <= '\u009f' ? Windows1252.GetString([(byte)c]) : null);
    }

    private static string FixSurrogates(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(c).Append(text[++i]);
            }
            else
            {
                sb.Append(char.IsSurrogate(c) ? '\ufffd' : c);
            }
        }

        return sb.ToString();
    }

    private const string HalfwidthKatakana = "\u3002\u300c\u300d\u3001\u30fb\u30f2\u30a1\u30a3\u30a5\u30a7\u30a9\u30e3\u30e5\u30e7\u30c3\u30fc"
        + "\u30a2\u30a4\u30a6\u30a8\u30aa\u30ab\u30ad\u30af\u30b1\u30b3\u30b5\u30b7\u30b9\u30bb\u30bd\u30bf\u30c1\u30c4\u30c6\u30c8"
        + "\u30ca\u30cb\u30cc\u30cd\u30ce\u30cf\u30d2\u30d5\u30d8\u30db\u30de\u30df\u30e0\u30e1\u30e2\u30e4\u30e6\u30e8\u30e9\u30ea"
        + "\u30eb\u30ec\u30ed\u30ef\u30f3\u3099\u309a";

    /// <summary>
    /// NFKC of one character of the Halfwidth and Fullwidth Forms block (the process runs with invariant globalization,
    /// so the mapping is spelled out): full-width ASCII, the symbol rows and half-width katakana. Half-width Hangul
    /// jamo (U+FFA0–U+FFDC) are left as they are.
    /// </summary>
    private static string? HalfAndFullWidth(char c) => c switch
    {
        <= '\uff5e' => ((char)(c - 0xfee0)).ToString(),
        '\uff5f' => "\u2985",
        '\uff60' => "\u2986",
        >= '\uff61' and <= '\uff9f' => HalfwidthKatakana[c - 0xff61].ToString(),
        '\uffe0' => "\u00a2",
        '\uffe1' => "\u00a3",
        '\uffe2' => "\u00ac",
        '\uffe3' => " \u0304",
        '\uffe4' => "\u00a6",
        '\uffe5' => "\u00a5",
        '\uffe6' => "\u20a9",
        '\uffe8' => "\u2502",
        >= '\uffe9' and <= '\uffec' => ((char)(0x2190 + (c - 0xffe9))).ToString(),
        '\uffed' => "\u25a0",
        '\uffee' => "\u25cb",
        _ => null,
    };

    private static bool IsRemovedControl(char c) =>
        c is (>= '\u0000' and <= '\u0008') or '\u000b' or (>= '\u000e' and <= '\u001f') or '\u007f'
            or (>= '\u206a' and <= '\u206f') or '\ufeff' or (>= '\ufff9' and <= '\ufffc');

    private static string Map(string text, Func<char, string?> map)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < text.Length; i++)
        {
            var r = map(text[i]);
            if (r is not null && sb is null)
            {
                sb = new StringBuilder(text.Length);
                sb.Append(text, 0, i);
            }

            if (sb is not null)
            {
                if (r is null)
                {
                    sb.Append(text[i]);
                }
                else
                {
                    sb.Append(r);
                }
            }
        }

        return sb?.ToString() ?? text;
    }

    /// <summary>Windows-1252 as ftfy's "sloppy" codec: the five undefined bytes decode to the C1 code point itself.</summary>
    private static Encoding CreateWindows1252() => new SloppyWindows1252();

    [GeneratedRegex("&#?[0-9A-Za-z]{1,24};", RegexOptions.CultureInvariant)]
    private static partial Regex HtmlEntity();

    [GeneratedRegex("\u001b\\[((?:\\d|;)*)([a-zA-Z])", RegexOptions.CultureInvariant)]
    private static partial Regex TerminalEscape();

    private sealed class SloppyWindows1252 : Encoding
    {
        private static readonly string High = "\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f"
            + "\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178";

        public override int GetByteCount(char[] chars, int index, int count) => throw new NotSupportedException();

        public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) => throw new NotSupportedException();

        public override int GetCharCount(byte[] bytes, int index, int count) => count;

        public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex)
        {
            for (int i = 0; i < byteCount; i++)
            {
                byte b = bytes[byteIndex + i];
                chars[charIndex + i] = b is >= 0x80 and <= 0x9f ? High[b - 0x80] : (char)b;
            }

            return byteCount;
        }

        public override int GetMaxByteCount(int charCount) => charCount;

        public override int GetMaxCharCount(int byteCount) => byteCount;
    }
}
