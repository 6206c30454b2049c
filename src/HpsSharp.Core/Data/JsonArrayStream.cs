using System.Text.Json;

namespace HpsSharp.Core.Data;

/// <summary>One element of a top-level JSON array, with where it starts in the file.</summary>
/// <param name="Index">0-based position in the array.</param>
/// <param name="Line">1-based line of the element's first character.</param>
/// <param name="Element">The element; valid only until the enumeration moves on.</param>
public readonly record struct JsonArrayItem(int Index, long Line, JsonElement Element);

/// <summary>
/// Streams the elements of a file holding one JSON array (the HPDv3 and ImageRewardDB annotation files) without
/// loading the file: memory is bounded by the largest element, not by the file. Syntax errors name the file and line.
/// </summary>
public static class JsonArrayStream
{
    private const int InitialBuffer = 1 << 16;

    /// <summary>Enumerates the array's elements in order.</summary>
    /// <exception cref="DatasetFormatException">The file is not a JSON array or is malformed.</exception>
    public static IEnumerable<JsonArrayItem> Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        }

        return ReadIterator(path);
    }

    private static IEnumerable<JsonArrayItem> ReadIterator(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var buffer = new byte[InitialBuffer];
        int length = 0;
        bool final = false;
        var state = new JsonReaderState(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        long lineAtStart = 1;   // line number of buffer[0]
        int scanned = 0;        // bytes of the buffer whose newlines are counted in lineAtScan
        long lineAtScan = 1;
        bool started = false;
        bool ended = false;
        int index = 0;
        bool bomChecked = false;

        while (true)
        {
            // Fill the buffer.
            if (!final)
            {
                if (length == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                int read = stream.Read(buffer, length, buffer.Length - length);
                if (read == 0)
                {
                    final = true;
                }

                length += read;
            }

            int offset = 0;
            if (!bomChecked && (length >= 3 || final))
            {
                bomChecked = true;
                if (length >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF)
                {
                    offset = 3;
                    scanned = 3;
                }
            }
            else if (!bomChecked)
            {
                continue;
            }

            var items = new List<(int Start, int End, long Line)>();
            int consumed;
            bool exhausted = false;
            try
            {
                var reader = new Utf8JsonReader(buffer.AsSpan(offset, length - offset), final, state);
                while (true)
                {
                    var before = reader.CurrentState;
                    long beforeConsumed = reader.BytesConsumed;
                    if (!reader.Read())
                    {
                        break;
                    }

                    if (!started)
                    {
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            throw new DatasetFormatException(path, LineOf(offset + (int)reader.TokenStartIndex), $"expected a JSON array of records, found {Describe(reader.TokenType)}");
                        }

                        started = true;
                        continue;
                    }

                    if (ended)
                    {
                        throw new DatasetFormatException(path, LineOf(offset + (int)reader.TokenStartIndex), "unexpected content after the closing ']' of the array");
                    }

                    if (reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == 0)
                    {
                        ended = true;
                        continue;
                    }

                    int start = offset + (int)reader.TokenStartIndex;
                    if (!reader.TrySkip())
                    {
                        // The element is not complete in the buffer: keep it and read more.
                        reader = default;
                        state = before;
                        consumed = offset + (int)beforeConsumed;
                        goto Shift;
                    }

                    items.Add((start, offset + (int)reader.BytesConsumed, LineOf(start)));
                }

                state = reader.CurrentState;
                consumed = offset + (int)reader.BytesConsumed;
                exhausted = final;
            }
            catch (JsonException ex)
            {
                throw new DatasetFormatException(path, 1 + (ex.LineNumber ?? 0), "malformed JSON: " + FirstSentence(ex.Message), ex);
            }

        Shift:
            foreach (var (start, end, line) in items)
            {
                // The JSON reader leaves string bytes unchecked; invalid UTF-8 would surface later as a crash.
                Utf8Lines.Check(path, line, buffer.AsSpan(start, end - start));
                JsonDocument doc;
                try
                {
                    doc = JsonDocument.Parse(buffer.AsMemory(start, end - start), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
                }
                catch (JsonException ex)
                {
                    throw new DatasetFormatException(path, line + (ex.LineNumber ?? 0), "malformed JSON: " + FirstSentence(ex.Message), ex);
                }

                using (doc)
                {
                    yield return new JsonArrayItem(index++, line, doc.RootElement);
                }
            }

            if (exhausted)
            {
                if (!started)
                {
                    throw new DatasetFormatException(path, lineAtStart, "the file is empty; expected a JSON array of records");
                }

                if (!ended)
                {
                    throw new DatasetFormatException(path, LineOf(length), "the file ends before the closing ']' of the array");
                }

                yield break;
            }

            // Drop consumed bytes, keeping line counts.
            LineOf(consumed);
            lineAtStart = lineAtScan;
            Buffer.BlockCopy(buffer, consumed, buffer, 0, length - consumed);
            length -= consumed;
            scanned = 0;
            bomChecked = true;
        }

        long LineOf(int position)
        {
            // Positions only move forward within one buffer fill, so counting is incremental.
            if (position < scanned)
            {
                long line = lineAtStart;
                line += buffer.AsSpan(0, position).Count((byte)'\n');
                return line;
            }

            lineAtScan += buffer.AsSpan(scanned, position - scanned).Count((byte)'\n');
            scanned = position;
            return lineAtScan;
        }
    }

    private static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => type.ToString(),
    };

    internal static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
