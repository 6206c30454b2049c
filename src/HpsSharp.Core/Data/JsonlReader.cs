using System.Text.Json;

namespace HpsSharp.Core.Data;

/// <summary>
/// A judged pair in the generic form: <see cref="Label1"/> is 1 when image 1 is preferred, 0 when image 2 is, and
/// 0.5 for a human tie.
/// </summary>
public sealed record PreferencePair(int Index, long Line, string Prompt, string Image1, string Image2, double Label1, string? Model1, string? Model2, string? Category);

/// <summary>
/// Reads the generic JSON Lines format, one record per line (blank lines skipped). A line is either a pair
/// <c>{"prompt", "path1", "path2"}</c> with optional <c>"label"</c> (1 = path1 preferred, the default; 0 = path2;
/// 0.5 = tie), <c>"model1"</c>, <c>"model2"</c>, <c>"category"</c>; or a ranking
/// <c>{"prompt", "generations": [...], "ranking": [...]}</c> (lower rank = better). One file holds one kind.
/// </summary>
public static class JsonlReader
{
    /// <summary>Streams the JSON object on each non-blank line of <paramref name="path"/>.</summary>
    /// <exception cref="DatasetFormatException">A line is not a JSON object; names the file and line.</exception>
    public static IEnumerable<JsonArrayItem> Lines(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        }

        return LinesIterator(path);
    }

    /// <summary>Whether the file's first record is a ranking (has <c>generations</c>) rather than a pair.</summary>
    public static bool IsRanking(string path)
    {
        foreach (var item in Lines(path))
        {
            return item.Element.ValueKind == JsonValueKind.Object && item.Element.TryGetProperty("generations", out _);
        }

        return false;
    }

    /// <summary>Streams the pairs of a pair-kind JSONL file.</summary>
    public static IEnumerable<PreferencePair> ReadPairs(string path) =>
        Lines(path).Select(item =>
        {
            var f = new JsonFields(item.Element, path, item.Line, $"record {item.Index}");
            if (f.Has("generations"))
            {
                throw f.Error("a ranking record in a file of pairs (the first record decides the kind)");
            }

            double label = f.OptionalNumber("label") ?? 1;
            if (label is not (0 or 0.5 or 1))
            {
                throw f.Error($"'label' must be 1 (path1 preferred), 0 (path2 preferred) or 0.5 (tie), found {label}");
            }

            return new PreferencePair(item.Index, item.Line, f.RequiredString("prompt"), f.NonEmptyString("path1"), f.NonEmptyString("path2"), label, f.OptionalString("model1"), f.OptionalString("model2"), f.OptionalString("category"));
        });

    /// <summary>Streams the items of a ranking-kind JSONL file.</summary>
    public static IEnumerable<RankingItem> ReadRankings(string path) =>
        Lines(path).Select(item =>
        {
            var f = new JsonFields(item.Element, path, item.Line, $"record {item.Index}");
            if (!f.Has("generations"))
            {
                throw f.Error("a pair record in a file of rankings (the first record decides the kind)");
            }

            string id = f.OptionalString("id") ?? item.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return RankingChecks.Build(f, item, id, f.RequiredString("prompt"), f.RequiredStrings("generations"), f.RequiredNumbers("ranking"), "generations", "ranking");
        });

    /// <summary>
    /// As <see cref="Lines(string)"/>, but a line that is not valid JSON is passed to <paramref name="onMalformed"/>
    /// (line, reason) and skipped instead of stopping the read (training's skip-and-count mode). Invalid UTF-8 still
    /// stops: the file is not text in the expected encoding.
    /// </summary>
    public static IEnumerable<JsonArrayItem> Lines(string path, Action<long, string>? onMalformed)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        }

        return LinesIterator(path, onMalformed);
    }

    private static IEnumerable<JsonArrayItem> LinesIterator(string path, Action<long, string>? onMalformed = null)
    {
        int index = 0;
        foreach (var line in Utf8Lines.Read(path))
        {
            if (line.IsBlank)
            {
                continue;
            }

            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line.Bytes);
            }
            catch (JsonException ex)
            {
                string reason = "malformed JSON: " + JsonArrayStream.FirstSentence(ex.Message);
                if (onMalformed is null)
                {
                    throw new DatasetFormatException(path, line.Line, reason, ex);
                }

                onMalformed(line.Line, reason);
                continue;
            }

            using (doc)
            {
                yield return new JsonArrayItem(index++, line.Line, doc.RootElement);
            }
        }
    }
}
