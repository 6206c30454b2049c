using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace HpsSharp.Annotation;

/// <summary>What an even split (as many votes for path1 as for path2) does on export.</summary>
public enum ExportTies
{
    /// <summary>Export it in the pair file's order (path1 stays path1) with equal counts: a human tie for eval and train.</summary>
    Keep,

    /// <summary>Leave it out.</summary>
    Drop,
}

/// <summary>Export settings.</summary>
/// <param name="MinVotes">Pairs with fewer votes for path1 or path2 (ties and skips not counted) are left out.</param>
public sealed record ExportOptions(int MinVotes = 1, ExportTies Ties = ExportTies.Keep);

/// <summary>One exported pair in HPDv3 terms (path1 = the majority choice).</summary>
/// <param name="ChoiceDist">[votes for path1, votes for path2].</param>
/// <param name="Confidence">P(path1 is better | votes, gold reliabilities); null when no gold pair was answered.</param>
/// <param name="Ties">"Tie / can't tell" answers (not in <paramref name="ChoiceDist"/>).</param>
public sealed record ExportRecord(long PairId, string Prompt, string Path1, string Path2, string? Model1, string? Model2, int[] ChoiceDist, double? Confidence, int Ties);

/// <summary>What an export did.</summary>
/// <param name="Pairs">Ordinary pairs in the database.</param>
/// <param name="Exported">Pairs written.</param>
/// <param name="BelowMinVotes">Pairs left out for having fewer than the minimum votes.</param>
/// <param name="EvenSplits">Exported pairs with an even split (kept in file order).</param>
/// <param name="EvenSplitsDropped">Even splits left out by <see cref="ExportTies.Drop"/>.</param>
/// <param name="Swapped">Exported pairs whose majority chose the file's path2 (written as path1).</param>
/// <param name="WithConfidence">True when confidences were computed (some gold pair was answered).</param>
public sealed record ExportSummary(int Pairs, int Exported, int BelowMinVotes, int EvenSplits, int EvenSplitsDropped, int Swapped, bool WithConfidence);

/// <summary>
/// Turns the judgements into HPDv3 training/evaluation data: one record per ordinary pair with enough votes, with
/// <c>path1</c> the image most annotators preferred, <c>choice_dist</c> = [votes for path1, votes for path2] and
/// <c>confidence</c> from the annotators' reliability on gold pairs (<see cref="Reliability"/>). Gold pairs are
/// not exported (their answers are in the gold file already).
/// </summary>
public static class HpdExport
{
    // A data file, not HTML: prompts keep their characters instead of \uXXXX escapes.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Aggregates the votes (pure; the database is not needed).</summary>
    public static (IReadOnlyList<ExportRecord> Records, ExportSummary Summary) Build(IReadOnlyList<AnnotationPair> pairs, IReadOnlyList<Judgement> judgements, ExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(judgements);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MinVotes < 1)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"the minimum number of votes must be at least 1 (got {options.MinVotes})"));
        }

        bool withConfidence = judgements.Any(j => j.PairId < 0 && j.Vote != Vote.Skip);
        var reliability = Reliability.FromGold(judgements);
        var byPair = judgements.Where(j => j.PairId >= 0).ToLookup(j => j.PairId);
        var records = new List<ExportRecord>();
        int ordinary = 0, below = 0, even = 0, evenDropped = 0, swapped = 0;
        foreach (var pair in pairs.Where(p => !p.IsGold).OrderBy(p => p.Id))
        {
            ordinary++;
            var votes = byPair[pair.Id].ToList();
            var for1 = votes.Where(v => v.Vote == Vote.Path1).Select(v => reliability[v.Annotator].Value).ToList();
            var for2 = votes.Where(v => v.Vote == Vote.Path2).Select(v => reliability[v.Annotator].Value).ToList();
            int ties = votes.Count(v => v.Vote == Vote.Tie);
            if (for1.Count + for2.Count < options.MinVotes)
            {
                below++;
                continue;
            }

            if (for1.Count == for2.Count)
            {
                if (options.Ties == ExportTies.Drop)
                {
                    evenDropped++;
                    continue;
                }

                even++;
            }

            double? confidence = withConfidence ? Reliability.Confidence(for1, for2) : null;
            if (for2.Count > for1.Count)
            {
                swapped++;
                records.Add(new ExportRecord(pair.Id, pair.Prompt, pair.Path2, pair.Path1, pair.Model2, pair.Model1, [for2.Count, for1.Count], 1 - confidence, ties));
            }
            else
            {
                records.Add(new ExportRecord(pair.Id, pair.Prompt, pair.Path1, pair.Path2, pair.Model1, pair.Model2, [for1.Count, for2.Count], confidence, ties));
            }
        }

        return (records, new ExportSummary(ordinary, records.Count, below, even, evenDropped, swapped, withConfidence));
    }

    /// <summary>Reads the database and writes the export to <paramref name="outPath"/> atomically (a temporary file renamed over it).</summary>
    public static ExportSummary Write(AnnotationStore store, string outPath, ExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(outPath);
        var (records, summary) = Build(store.Pairs(), store.Judgements(), options);
        string full = Path.GetFullPath(outPath);
        string dir = Path.GetDirectoryName(full)!;
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.WriteThrough))
            {
                WriteJson(stream, records);
                stream.Flush(flushToDisk: true);
            }

            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write the export '{outPath}': {ex.Message}", ex);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }

        return summary;
    }

    /// <summary>
    /// Writes the records as an HPDv3 JSON array, one record per line: <c>prompt</c>, <c>path1</c>, <c>path2</c>,
    /// <c>model1</c>, <c>model2</c>, <c>choice_dist</c>, <c>confidence</c>, plus <c>pair_id</c> and <c>ties</c>.
    /// </summary>
    public static void WriteJson(Stream stream, IReadOnlyList<ExportRecord> records)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(records);
        stream.Write("[\n"u8);
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            using (var w = new Utf8JsonWriter(stream, WriterOptions))
            {
                w.WriteStartObject();
                w.WriteString("prompt", r.Prompt);
                w.WriteString("path1", r.Path1);
                w.WriteString("path2", r.Path2);
                WriteNullable(w, "model1", r.Model1);
                WriteNullable(w, "model2", r.Model2);
                w.WriteStartArray("choice_dist");
                w.WriteNumberValue(r.ChoiceDist[0]);
                w.WriteNumberValue(r.ChoiceDist[1]);
                w.WriteEndArray();
                if (r.Confidence is { } c)
                {
                    w.WriteNumber("confidence", Math.Round(c, 6));
                }
                else
                {
                    w.WriteNull("confidence");
                }

                w.WriteNumber("pair_id", r.PairId);
                w.WriteNumber("ties", r.Ties);
                w.WriteEndObject();
            }

            stream.Write(i + 1 < records.Count ? ",\n"u8 : "\n"u8);
        }

        stream.Write("]\n"u8);
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
