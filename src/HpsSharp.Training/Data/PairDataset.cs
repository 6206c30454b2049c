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
        if (format == PairFormat.Hpdv3 && FirstNonSpace(path) != '[')
        {
            throw new TrainingDataException(path, 0, "an HPDv3 file is one JSON array of pairs (JSON Lines files are read with the jsonl format)");
        }

        // The one HPDv3 row reader (shared with evaluation), in its skip-and-count mode unless --strict.
        var read = new Hpdv3ReadOptions
        {
            AcceptAliases = true,
            OnSkipped = s =>
            {
                report.Rows++;
                Bad(path, s.Index, s.Reason, options, report);
            },
        };
        var records = format == PairFormat.Jsonl ? Hpdv3PairReader.ReadJsonLines(path, read) : Hpdv3PairReader.ReadRecords(path, read);
        var pairs = new List<PreferencePair>();
        foreach (var record in records)
        {
            report.Rows++;
            var p = record.Pair;
            long row = p.Index;
            if (string.IsNullOrWhiteSpace(p.Prompt))
            {
                Bad(path, row, "missing or empty \"prompt\"", options, report);
                continue;
            }

            if (!TryResolve(root, p.Path1, out var preferred, out var reason) || !TryResolve(root, p.Path2, out var other, out reason))
            {
                Bad(path, row, reason!, options, report);
                continue;
            }

            if (!p.HasConfidenceKey)
            {
                report.MissingConfidence++;
            }
            else if (p.Confidence is null)
            {
                report.NullConfidence++;
                if (options.NullConfidence == NullConfidencePolicy.Error)
                {
                    throw new TrainingDataException(path, row, "\"confidence\" is null (the null-confidence policies keep and drop accept such rows)");
                }

                if (options.NullConfidence == NullConfidencePolicy.Drop)
                {
                    continue;
                }
            }
            else if (options.ConfidenceThreshold is double t && p.Confidence < t)
            {
                report.BelowConfidence++;
                continue;
            }

            pairs.Add(new PreferencePair(row, p.Prompt, preferred!, other!, p.ChoiceDist, p.Confidence));
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

    private static int FirstNonSpace(string path)
    {
        using var s = File.OpenRead(path);
        int b;
        while ((b = s.ReadByte()) is ' ' or '\n' or '\r' or '\t' or 0xEF or 0xBB or 0xBF)
        {
        }

        return b;
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
