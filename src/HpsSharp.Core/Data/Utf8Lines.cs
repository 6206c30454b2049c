using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace HpsSharp.Core.Data;

/// <summary>One line of a text file as UTF-8 bytes (without the line break); valid until the enumeration moves on.</summary>
/// <param name="Line">1-based line number.</param>
/// <param name="Bytes">The line's bytes, checked to be valid UTF-8.</param>
public readonly record struct Utf8Line(long Line, ReadOnlyMemory<byte> Bytes)
{
    /// <summary>True when the line holds only spaces, tabs or nothing.</summary>
    public bool IsBlank => Bytes.Span.Trim(" \t\r\f\v"u8).IsEmpty;

    /// <summary>The line as a string.</summary>
    public override string ToString() => Encoding.UTF8.GetString(Bytes.Span);
}

/// <summary>
/// Strict UTF-8 for the files HpsSharp reads (JSONL datasets, manifests, training files): invalid bytes are an error
/// naming the file and line, never silently replaced by U+FFFD (which would change a prompt, and so its score).
/// </summary>
public static class Utf8Lines
{
    /// <summary>Streams the lines of <paramref name="path"/> (a leading BOM dropped, <c>\r\n</c> accepted).</summary>
    /// <exception cref="DatasetFormatException">A line is not valid UTF-8.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static IEnumerable<Utf8Line> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"file '{path}' does not exist", path);
        }

        return ReadIterator(path);
    }

    /// <summary>Throws naming <paramref name="path"/> and the line when <paramref name="bytes"/> (starting at <paramref name="line"/>) is not valid UTF-8.</summary>
    /// <exception cref="DatasetFormatException">Invalid UTF-8.</exception>
    public static void Check(string path, long line, ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes))
        {
            return;
        }

        int at = 0;
        while (at < bytes.Length)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes[at..], out _, out int used);
            if (status != System.Buffers.OperationStatus.Done)
            {
                break;
            }

            at += used;
        }

        int lineStart = bytes[..at].LastIndexOf((byte)'\n') + 1;
        long badLine = line + bytes[..at].Count((byte)'\n');
        int column = Encoding.UTF8.GetCharCount(bytes[lineStart..at]) + 1;
        throw new DatasetFormatException(path, badLine, string.Create(CultureInfo.InvariantCulture, $"invalid UTF-8 (byte 0x{bytes[at]:X2} at character {column}); the file must be UTF-8 text"));
    }

    private static IEnumerable<Utf8Line> ReadIterator(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var buffer = new byte[1 << 16];
        int start = 0, length = 0;
        long line = 0;
        bool eof = false;
        while (true)
        {
            int nl = buffer.AsSpan(start, length - start).IndexOf((byte)'\n');
            if (nl < 0 && !eof)
            {
                if (start > 0)
                {
                    Buffer.BlockCopy(buffer, start, buffer, 0, length - start);
                    length -= start;
                    start = 0;
                }

                if (length == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                int read = stream.Read(buffer, length, buffer.Length - length);
                eof = read == 0;
                length += read;
                continue;
            }

            if (nl < 0 && start == length)
            {
                yield break;
            }

            int end = nl < 0 ? length : start + nl;
            int from = start;
            start = nl < 0 ? length : end + 1;
            line++;
            if (line == 1 && buffer.AsSpan(from, end - from).StartsWith("\uFEFF"u8))
            {
                from += 3;
            }

            int to = end > from && buffer[end - 1] == '\r' ? end - 1 : end;
            Check(path, line, buffer.AsSpan(from, to - from));
            yield return new Utf8Line(line, buffer.AsMemory(from, to - from));
        }
    }
}
