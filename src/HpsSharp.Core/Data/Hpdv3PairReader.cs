namespace HpsSharp.Core.Data;

/// <summary>
/// One HPDv3 annotation (docs/data-formats.md#hpdv3). <see cref="Path1"/> is always the preferred image.
/// </summary>
/// <param name="Index">0-based position in the JSON array.</param>
/// <param name="Prompt">The prompt both images were generated for.</param>
/// <param name="Path1">The preferred image, as written in the file (relative to the image root).</param>
/// <param name="Path2">The other image.</param>
/// <param name="Model1">Generator of image 1 (null when absent).</param>
/// <param name="Model2">Generator of image 2.</param>
/// <param name="ChoiceDist">Annotator votes [for image 1, for image 2]; null when absent or null (MidJourney, HPDv2 pairs).</param>
/// <param name="Confidence">Annotation reliability; null when absent or null.</param>
public sealed record Hpdv3Pair(int Index, string Prompt, string Path1, string Path2, string? Model1, string? Model2, double[]? ChoiceDist, double? Confidence)
{
    /// <summary>True when the record has a <c>confidence</c> key (its value may be null); training counts the three cases apart.</summary>
    public bool HasConfidenceKey { get; init; }
}

/// <summary>How <see cref="Hpdv3PairReader"/> treats records whose fields are wrong.</summary>
public sealed record Hpdv3ReadOptions
{
    /// <summary>
    /// Null (evaluation's default): the first bad record stops the read with a <see cref="DatasetFormatException"/>.
    /// Otherwise (training's skip-and-count mode) each bad record is passed here and skipped. A JSON syntax error
    /// always stops the read: nothing after it can be trusted.
    /// </summary>
    public Action<Hpdv3Skipped>? OnSkipped { get; init; }

    /// <summary>Also accept <c>preferred</c> / <c>other</c> for <c>path1</c> / <c>path2</c> (training's JSONL files).</summary>
    public bool AcceptAliases { get; init; }
}

/// <summary>A record skipped in skip-and-count mode: its 0-based index, 1-based line, and why.</summary>
public sealed record Hpdv3Skipped(int Index, long Line, string Reason);

/// <summary>Reads HPDv3 annotation files (<c>train.json</c>, <c>test.json</c>, <c>all.json</c>): a JSON array of pairs.</summary>
public static class Hpdv3PairReader
{
    /// <summary>
    /// Streams the pairs of <paramref name="path"/> in file order without loading the whole file. Required fields:
    /// <c>prompt</c> (string), <c>path1</c>, <c>path2</c> (non-empty strings). Optional and nullable: <c>model1</c>,
    /// <c>model2</c>, <c>choice_dist</c> (array of two non-negative numbers), <c>confidence</c> (number).
    /// </summary>
    /// <exception cref="DatasetFormatException">A record is malformed; names the file and line.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static IEnumerable<Hpdv3Pair> Read(string path) =>
        JsonArrayStream.Read(path).Select(item => Parse(path, item));

    /// <summary>
    /// As <see cref="Read"/>, with the 1-based line where each record starts (for messages about it) and the
    /// optional <c>category</c> field some derived files carry. This is the one HPDv3 row reader: evaluation reads
    /// with the defaults (stop at the first bad record), training with <see cref="Hpdv3ReadOptions.OnSkipped"/>.
    /// </summary>
    public static IEnumerable<Hpdv3Record> ReadRecords(string path, Hpdv3ReadOptions? options = null) =>
        Records(path, JsonArrayStream.Read(path), options);

    /// <summary>
    /// The same rows, one JSON object per line (training's JSONL pair files); a line that is not JSON is skipped
    /// through <see cref="Hpdv3ReadOptions.OnSkipped"/> in skip mode. Indexes are 0-based line numbers.
    /// </summary>
    public static IEnumerable<Hpdv3Record> ReadJsonLines(string path, Hpdv3ReadOptions? options = null)
    {
        Action<long, string>? malformed = options?.OnSkipped is { } skip ? (line, reason) => skip(new Hpdv3Skipped((int)(line - 1), line, reason)) : null;
        return Records(path, JsonlReader.Lines(path, malformed).Select(i => i with { Index = (int)(i.Line - 1) }), options);
    }

    private static IEnumerable<Hpdv3Record> Records(string path, IEnumerable<JsonArrayItem> items, Hpdv3ReadOptions? options)
    {
        foreach (var item in items)
        {
            Hpdv3Record record;
            try
            {
                record = new Hpdv3Record(
                    Parse(path, item, options?.AcceptAliases ?? false),
                    item.Line,
                    new JsonFields(item.Element, path, item.Line, $"record {item.Index}").OptionalString("category"));
            }
            catch (DatasetFormatException ex) when (options?.OnSkipped is not null)
            {
                options.OnSkipped(new Hpdv3Skipped(item.Index, item.Line, ex.Reason));
                continue;
            }

            yield return record;
        }
    }

    internal static Hpdv3Pair Parse(string path, JsonArrayItem item, bool aliases = false)
    {
        var f = new JsonFields(item.Element, path, item.Line, $"record {item.Index}");
        var choice = f.OptionalNumbers("choice_dist");
        if (choice is not null && (choice.Length != 2 || choice[0] < 0 || choice[1] < 0))
        {
            throw f.Error($"'choice_dist' must hold two non-negative vote counts, found [{string.Join(", ", choice)}]");
        }

        return new Hpdv3Pair(
            item.Index,
            f.RequiredString("prompt"),
            f.NonEmptyString(aliases && !f.Has("path1") && f.Has("preferred") ? "preferred" : "path1"),
            f.NonEmptyString(aliases && !f.Has("path2") && f.Has("other") ? "other" : "path2"),
            f.OptionalString("model1"),
            f.OptionalString("model2"),
            choice,
            f.OptionalNumber("confidence"))
        {
            HasConfidenceKey = f.Has("confidence"),
        };
    }
}

/// <summary>An HPDv3 pair with where it is in the file and its optional category.</summary>
public sealed record Hpdv3Record(Hpdv3Pair Pair, long Line, string? Category);
