using System.Text;
using System.Text.RegularExpressions;

namespace HpsSharp.Diagnostics;

/// <summary>A symbol version a shared library needs from another (<c>.gnu.version_r</c>).</summary>
/// <param name="File">The library that provides it (<c>libstdc++.so.6</c>).</param>
/// <param name="Version">The version name (<c>GLIBCXX_3.4.32</c>).</param>
/// <param name="Weak">VER_FLG_WEAK: the loader accepts the library when the version is missing.</param>
public sealed record ElfVersionNeed(string File, string Version, bool Weak);

/// <summary>
/// Reads the version needs of an ELF64 shared library — the read-only twin of the build step in
/// <c>Directory.Build.targets</c> that marks <c>GLIBCXX_3.4.32</c> weak in <c>libLibTorchSharp.so</c>, so that
/// <c>hps doctor</c> can tell whether the copy actually loaded was patched.
/// </summary>
public static partial class ElfVersions
{
    private const uint ShtGnuVerneed = 0x6ffffffe;

    /// <summary>Every version need of <paramref name="path"/>; empty for a file that is not ELF64 or has none.</summary>
    public static IReadOnlyList<ElfVersionNeed> ReadNeeds(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var b = File.ReadAllBytes(path);
        var result = new List<ElfVersionNeed>();
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2)
        {
            return result;
        }

        try
        {
            long shoff = BitConverter.ToInt64(b, 0x28);
            int shentsize = BitConverter.ToUInt16(b, 0x3A), shnum = BitConverter.ToUInt16(b, 0x3C);
            for (int s = 0; s < shnum; s++)
            {
                int sh = checked((int)(shoff + ((long)s * shentsize)));
                if (BitConverter.ToUInt32(b, sh + 4) != ShtGnuVerneed)
                {
                    continue;
                }

                int off = checked((int)BitConverter.ToInt64(b, sh + 0x18));
                int link = (int)BitConverter.ToUInt32(b, sh + 0x28);
                int strOff = checked((int)BitConverter.ToInt64(b, checked((int)(shoff + ((long)link * shentsize))) + 0x18));
                int vn = off;
                while (true)
                {
                    int cnt = BitConverter.ToUInt16(b, vn + 2);
                    string file = CString(b, strOff + (int)BitConverter.ToUInt32(b, vn + 4));
                    int aux = vn + (int)BitConverter.ToUInt32(b, vn + 8);
                    for (int i = 0; i < cnt; i++)
                    {
                        int flags = BitConverter.ToUInt16(b, aux + 4);
                        result.Add(new ElfVersionNeed(file, CString(b, strOff + (int)BitConverter.ToUInt32(b, aux + 8)), (flags & 2) != 0));
                        aux += (int)BitConverter.ToUInt32(b, aux + 12);
                    }

                    uint next = BitConverter.ToUInt32(b, vn + 12);
                    if (next == 0)
                    {
                        break;
                    }

                    vn += (int)next;
                }
            }
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or ArgumentException or OverflowException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"{path}: malformed ELF version section", ex);
        }

        return result;
    }

    /// <summary>The highest <c>GLIBCXX_3.4.N</c> a libstdc++ file defines (by scanning its version strings), or null.</summary>
    public static Version? MaxGlibcxx(string libstdcxxPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(libstdcxxPath);
        var text = Encoding.Latin1.GetString(File.ReadAllBytes(libstdcxxPath));
        Version? max = null;
        foreach (Match m in GlibcxxRegex().Matches(text))
        {
            var v = Version.Parse(m.Groups[1].Value);
            if (max is null || v > max)
            {
                max = v;
            }
        }

        return max;
    }

    /// <summary>Parses <c>GLIBCXX_3.4.32</c> into 3.4.32.</summary>
    public static Version? ParseGlibcxx(string version)
    {
        var m = GlibcxxRegex().Match(version ?? string.Empty);
        return m.Success ? Version.Parse(m.Groups[1].Value) : null;
    }

    private static string CString(byte[] b, int at)
    {
        int end = at;
        while (b[end] != 0)
        {
            end++;
        }

        return Encoding.ASCII.GetString(b, at, end - at);
    }

    [GeneratedRegex(@"GLIBCXX_(\d+\.\d+(?:\.\d+)?)\b")]
    private static partial Regex GlibcxxRegex();
}
