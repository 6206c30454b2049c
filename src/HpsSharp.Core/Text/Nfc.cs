using System.Text;

namespace HpsSharp.Core.Text;

/// <summary>
/// Unicode Normalization Form C (UAX #15), implemented here because the project runs with InvariantGlobalization,
/// where <see cref="string.Normalize()"/> has no ICU and leaves text unchanged. Tables: <see cref="NfcData"/>
/// (generated from Python's <c>unicodedata</c> by <c>tools/unicode/gen_nfc_tables.py</c>); Hangul is algorithmic.
/// </summary>
internal static class Nfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, (int First, int Second)> Decomposition = BuildDecomposition();
    private static readonly Dictionary<long, int> Composition = BuildComposition();
    private static readonly Dictionary<int, byte> CombiningClass = BuildCombiningClasses();

    /// <summary>The NFC form of <paramref name="text"/>; the same instance when nothing can change.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int firstUnstable = 0;
        while (firstUnstable < text.Length && text[firstUnstable] < NfcData.FirstUnstable)
        {
            firstUnstable++;
        }

        if (firstUnstable == text.Length)
        {
            return text;
        }

        // The character before the first unstable one may compose with it (e + U+0301): start there.
        int start = Math.Max(0, firstUnstable - 1);
        var codePoints = new List<int>(text.Length - start + 8);
        for (int i = start; i < text.Length; i++)
        {
            // An unpaired surrogate is kept as it is (a code point of its own, as Python does).
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                Decompose(char.ConvertToUtf32(text[i], text[i + 1]), codePoints);
                i++;
            }
            else
            {
                Decompose(text[i], codePoints);
            }
        }

        Compose(codePoints);

        var sb = new StringBuilder(text.Length);
        sb.Append(text, 0, start);
        foreach (int cp in codePoints)
        {
            if (cp is >= 0xD800 and <= 0xDFFF)
            {
                sb.Append((char)cp);
            }
            else
            {
                sb.Append(new Rune(cp).ToString());
            }
        }

        var result = sb.ToString();
        return result == text ? text : result;
    }

    /// <summary>The NFD form of <paramref name="text"/> (canonical decomposition and ordering, no composition).</summary>
    public static string Decompose(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var codePoints = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                Decompose(char.ConvertToUtf32(text[i], text[i + 1]), codePoints);
                i++;
            }
            else
            {
                Decompose(text[i], codePoints);
            }
        }

        var sb = new StringBuilder(text.Length);
        foreach (int cp in codePoints)
        {
            sb.Append(cp is >= 0xD800 and <= 0xDFFF ? ((char)cp).ToString() : new Rune(cp).ToString());
        }

        return sb.ToString();
    }

    private static void Decompose(int cp, List<int> output)
    {
        int s = cp - SBase;
        if (s is >= 0 and < SCount)
        {
            Append(LBase + s / NCount, output);
            Append(VBase + s % NCount / TCount, output);
            if (s % TCount != 0)
            {
                Append(TBase + s % TCount, output);
            }

            return;
        }

        if (Decomposition.TryGetValue(cp, out var d))
        {
            Decompose(d.First, output);
            if (d.Second != 0)
            {
                Decompose(d.Second, output);
            }

            return;
        }

        Append(cp, output);
    }

    /// <summary>Appends one fully decomposed code point, keeping runs of non-starters in canonical order (stable).</summary>
    private static void Append(int cp, List<int> output)
    {
        int ccc = Ccc(cp);
        int i = output.Count;
        output.Add(cp);
        if (ccc == 0)
        {
            return;
        }

        while (i > 0)
        {
            int prev = Ccc(output[i - 1]);
            if (prev <= ccc)
            {
                break;
            }

            output[i] = output[i - 1];
            output[i - 1] = cp;
            i--;
        }
    }

    private static void Compose(List<int> cps)
    {
        int starter = -1;
        int write = 0;
        int lastCcc = -1;
        for (int read = 0; read < cps.Count; read++)
        {
            int cp = cps[read];
            int ccc = Ccc(cp);
            bool adjacent = starter >= 0 && write - 1 == starter;
            bool unblocked = adjacent || (starter >= 0 && lastCcc != 0 && lastCcc < ccc);
            if (unblocked && TryCompose(cps[starter], cp, out int composite))
            {
                cps[starter] = composite;
                continue;
            }

            if (ccc == 0)
            {
                starter = write;
            }

            lastCcc = ccc;
            cps[write++] = cp;
        }

        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        int l = first - LBase, v = second - VBase;
        if (l is >= 0 and < LCount && v is >= 0 and < VCount)
        {
            composite = SBase + (l * VCount + v) * TCount;
            return true;
        }

        int s = first - SBase, t = second - TBase;
        if (s is >= 0 and < SCount && s % TCount == 0 && t is > 0 and < TCount)
        {
            composite = first + t;
            return true;
        }

        return Composition.TryGetValue(Key(first, second), out composite);
    }

    private static int Ccc(int cp) => cp < NfcData.FirstUnstable ? 0 : CombiningClass.TryGetValue(cp, out byte c) ? c : 0;

    private static long Key(int a, int b) => ((long)a << 21) | (uint)b;

    private static Dictionary<int, (int, int)> BuildDecomposition()
    {
        var data = NfcData.Decompositions;
        var map = new Dictionary<int, (int, int)>(data.Length / 3);
        for (int i = 0; i < data.Length; i += 3)
        {
            map[data[i]] = (data[i + 1], data[i + 2]);
        }

        return map;
    }

    private static Dictionary<long, int> BuildComposition()
    {
        var excluded = new HashSet<int>(NfcData.CompositionExclusions.ToArray());
        var data = NfcData.Decompositions;
        var map = new Dictionary<long, int>(data.Length / 3);
        for (int i = 0; i < data.Length; i += 3)
        {
            if (data[i + 2] != 0 && !excluded.Contains(data[i]))
            {
                map[Key(data[i + 1], data[i + 2])] = data[i];
            }
        }

        return map;
    }

    private static Dictionary<int, byte> BuildCombiningClasses()
    {
        var data = NfcData.CombiningClasses;
        var map = new Dictionary<int, byte>(data.Length / 2);
        for (int i = 0; i < data.Length; i += 2)
        {
            map[data[i]] = (byte)data[i + 1];
        }

        return map;
    }
}
