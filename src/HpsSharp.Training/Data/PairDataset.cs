using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Data;

namespace HpsSharp.Training.Data;

/// <summary>A bad row or unreadable image in the training data: the file, the 0-based row, and what is wrong.</summary>
public sealed class TrainingDataException : HpsException
{
    public TrainingDataException(string path, long row, string reason, Exception? inner = null)
        : base($"{path}: row {row}: {reason}", inner)
    {
        Path = path;
        Row = row;
        Reason = reason;
    }

    public string Path { get; }

    public long Row { get; }

    public string Reason { get; }
}

/// <summary>How pairs are read and filtered.</summary>
/// <param name="ConfidenceThreshold">Keep a pair iff its <c>confidence</c> ≥ this (HPSv3: 0.95); a missing key is kept. Null: no filter.</param>
/// <param name="NullConfidence">What an explicit <c>"confidence": null</c> does.</param>
/// <param name="Strict">Stop at the first bad row instead of reporting and skipping it.</param>
public sealed record PairDataOptions(double? ConfidenceThreshold = 0.95, NullConfidencePolicy NullConfidence = NullConfidencePolicy.Keep, bool Strict = false);

/// <summary>One skipped row or image, for the run summary.</summary>
public sealed record SkippedItem(string File, long Row, string Reason);

/// <summary>Counts of what loading and training skipped (reported in the run summary and <c>run.json</c>).</summary>
public sealed class DataReport
{
    private readonly List<SkippedItem> _skipped = new();

    /// <summary>Rows read from the file.</summary>
    public long Rows { get; set; }

    /// <summary>Pairs kept after filtering.</summary>
    public long Kept { get; set; }

    /// <summary>Pairs dropped by the confidence threshold.</summary>
    public long BelowConfidence { get; set; }

    /// <summary>Pairs with an explicit null confidence (kept or dropped per the policy).</summary>
    public long NullConfidence { get; set; }

    /// <summary>Pairs without a confidence key (kept).</summary>
    public long MissingConfidence { get; set; }

    /// <summary>Rows that could not be used (missing fields, wrong types).</summary>
    public long BadRows { get; set; }

    /// <summary>Pairs skipped during training because an image could not be read.</summary>
    public long BadImages { get; set; }

    /// <summary>The first 100 skipped items with their reasons.</summary>
    public IReadOnlyList<SkippedItem> Skipped => _skipped;

    public void AddSkipped(SkippedItem item)
    {
        if (_skipped.Count < 100)
        {
            _skipped.Add(item);
        }
    }
}

/// <summary>Reads and filters preference pairs (HPDv3 JSON array or JSONL) into memory (metadata only; images are read per batch).</summary>
public static class PairDataset
{
    /// <summary>
    /// Reads <paramref name="path"/> row by row (streaming), resolves image paths against <paramref name="imageRoot"/>
    /// (default: the data file's folder), applies the confidence filter and records every skipped row in
    /// <paramref name="report"/>.
    /// </summary>
    public static IReadOnlyList<PreferencePair> Load(string path, PairFormat format, string? imageRoot, PairDataOptions options, DataReport report)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(report);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"training data '{path}' does not exist", path);
        }

        var root = Path.GetFullPath(imageRoot ?? Path.GetDirectoryName(Path.GetFullPath(path))!);
        var pairs = new List<PreferencePair>();
        foreach (var (row, element, error) in ReadRows(path, format))
        {
            report.Rows++;
            if (error is not null)
            {
                Bad(path, row, error, options, report);
                continue;
            }

            if (!TryParse(element, root, row, out var pair, out var reason, out var conf))
            {
                Bad(path, row, reason!, options, report);
                continue;
            }

            switch (conf)
            {
                case ConfidenceState.Missing:
                    report.MissingConfidence++;
                    break;
                case ConfidenceState.Null:
                    report.NullConfidence++;
                    if (options.NullConfidence == NullConfidencePolicy.Error)
                    {
                        throw new TrainingDataException(path, row, "\"confidence\" is null (use --null-confidence keep|drop to accept such rows)");
                    }

                    if (options.NullConfidence == NullConfidencePolicy.Drop)
                    {
                        continue;
                    }

                    break;
                case ConfidenceState.Value when options.ConfidenceThreshold is double t && pair!.Confidence < t:
                    report.BelowConfidence++;
                    continue;
            }

            pairs.Add(pair!);
        }

        report.Kept = pairs.Count;
        return pairs;
    }

    private static void Bad(string path, long row, string reason, PairDataOptions options, DataReport report)
    {
        if (options.Strict)
        {
            throw new TrainingDataException(path, row, reason);
        }

        report.BadRows++;
        report.AddSkipped(new SkippedItem(path, row, reason));
    }

    private enum ConfidenceState
    {
        Missing,
        Null,
        Value,
    }

    private static IEnumerable<(long Row, JsonElement Element, string? Error)> ReadRows(string path, PairFormat format)
    {
        if (format == PairFormat.Jsonl)
        {
            long row = 0;
            foreach (var line in File.ReadLines(path))
            {
                if (string.IsNullOrWhiteSpace(line))
                {
                    row++;
                    continue;
                }

                JsonElement e = default;
                string? error = null;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    e = doc.RootElement.Clone();
                }
                catch (JsonException ex)
                {
                    error = "not valid JSON: " + ex.Message;
                }

                yield return (row++, e, error);
            }

            yield break;
        }

        using var stream = File.OpenRead(path);
        if (FirstNonSpace(stream) != '[')
        {
            throw new TrainingDataException(path, 0, "an HPDv3 file is one JSON array of pairs (use --format jsonl for JSON Lines)");
        }

        long i = 0;
        IEnumerable<JsonElement> items;
        try
        {
            items = JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(stream).ToBlockingEnumerable();
        }
        catch (JsonException ex)
        {
            throw new TrainingDataException(path, 0, "not valid JSON: " + ex.Message, ex);
        }

        using var it = items.GetEnumerator();
        while (true)
        {
            bool more;
            try
            {
                more = it.MoveNext();
            }
            catch (JsonException ex)
            {
                // A syntax error ends a JSON array: nothing after it can be trusted.
                throw new TrainingDataException(path, i, "not valid JSON: " + ex.Message, ex);
            }

            if (!more)
            {
                break;
            }

            yield return (i++, it.Current, null);
        }
    }

    private static int FirstNonSpace(Stream s)
    {
        int b;
        while ((b = s.ReadByte()) is ' ' or '\n' or '\r' or '\t' or 0xEF or 0xBB or 0xBF)
        {
        }

        s.Position = 0;
        return b;
    }

    private static bool TryParse(JsonElement e, string root, long row, out PreferencePair? pair, out string? reason, out ConfidenceState conf)
    {
        pair = null;
        conf = ConfidenceState.Missing;
        if (e.ValueKind != JsonValueKind.Object)
        {
            reason = $"expected a JSON object, got {e.ValueKind}";
            return false;
        }

        if (!TryString(e, "prompt", out var prompt) || string.IsNullOrWhiteSpace(prompt))
        {
            reason = "missing or empty \"prompt\"";
            return false;
        }

        if (!TryString(e, "path1", out var p1) && !TryString(e, "preferred", out p1))
        {
            reason = "missing \"path1\" (the preferred image)";
            return false;
        }

        if (!TryString(e, "path2", out var p2) && !TryString(e, "other", out p2))
        {
            reason = "missing \"path2\"";
            return false;
        }

        double? confidence = null;
        if (e.TryGetProperty("confidence", out var c))
        {
            if (c.ValueKind == JsonValueKind.Null)
            {
                conf = ConfidenceState.Null;
            }
            else if (c.ValueKind == JsonValueKind.Number)
            {
                conf = ConfidenceState.Value;
                confidence = c.GetDouble();
            }
            else
            {
                reason = $"\"confidence\" must be a number or null, got {c.ValueKind}";
                return false;
            }
        }

        double[]? dist = null;
        if (e.TryGetProperty("choice_dist", out var d) && d.ValueKind != JsonValueKind.Null)
        {
            if (d.ValueKind != JsonValueKind.Array || d.GetArrayLength() != 2 || d.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Number))
            {
                reason = "\"choice_dist\" must be two numbers";
                return false;
            }

            dist = d.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        }

        if (!TryResolve(root, p1!, out var r1, out reason) || !TryResolve(root, p2!, out var r2, out reason))
        {
            return false;
        }

        pair = new PreferencePair(row, prompt!, r1!, r2!, dist, confidence);
        return true;
    }

    private static bool TryString(JsonElement e, string name, out string? value)
    {
        value = null;
        if (e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String)
        {
            value = p.GetString();
            return !string.IsNullOrEmpty(value);
        }

        return false;
    }

    /// <summary>
    /// Resolves a dataset path under the image root with the evaluator's rule (<see cref="ImageRoot.Resolve"/>): a path
    /// that leaves the root — by "..", as an absolute path or through a symbolic link — is refused.
    /// </summary>
    private static bool TryResolve(string root, string relative, out string? full, out string? reason)
    {
        try
        {
            full = ImageRoot.Resolve(root, relative);
            reason = null;
            return true;
        }
        catch (ImagePathException ex)
        {
            full = null;
            reason = $"image path '{relative}' escapes the image root: {ex.Reason}";
            return false;
        }
    }
}
