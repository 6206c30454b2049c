using HpsSharp.Core;
using HpsSharp.Core.Data;

namespace HpsSharp.Annotation;

/// <summary>
/// A pair to be judged. <see cref="Id"/> is the pair's index in the pairs file (0, 1, …) for ordinary pairs and
/// −1, −2, … for the gold pairs of the gold file (−1 = its first record). For a gold pair <see cref="Path1"/> is the
/// known preferred image.
/// </summary>
public sealed record AnnotationPair(long Id, string Prompt, string Path1, string Path2, string? Model1, string? Model2)
{
    /// <summary>True for a gold pair (known answer, used to measure annotators).</summary>
    public bool IsGold => Id < 0;

    /// <summary>The id of the gold file's record <paramref name="index"/> (0-based).</summary>
    public static long GoldId(int index) => -1L - index;
}

/// <summary>Reads the pairs to annotate: HPDv3 JSON (an array) or JSON Lines with the same keys.</summary>
public static class PairFile
{
    /// <summary>
    /// Reads <paramref name="path"/> (a JSON array as HPDv3, otherwise JSON Lines with the same keys) and
    /// checks that every image exists under <paramref name="imagesRoot"/> without leaving it. Gold files give ids
    /// −1, −2, …; a pairs file gives 0, 1, ….
    /// </summary>
    /// <exception cref="DatasetFormatException">A record is malformed.</exception>
    /// <exception cref="UserInputException">The file is empty, or an image is missing or outside the root.</exception>
    public static IReadOnlyList<AnnotationPair> Load(string path, string imagesRoot, bool gold)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(imagesRoot);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{(gold ? "gold" : "pairs")} file not found: {path}", path);
        }

        IEnumerable<(int Index, long Line, string Prompt, string P1, string P2, string? M1, string? M2)> records = IsJsonLines(path)
            ? JsonlReader.ReadPairs(path).Select(p =>
            {
                // A JSONL label of 0 means path2 was preferred: a gold pair is oriented so that path1 is the answer.
                if (p.Label1 == 0.5 && gold)
                {
                    throw new DatasetFormatException(path, p.Line, "a gold pair needs a known answer, not a tie (label 0.5)");
                }

                // Pairs to annotate keep the file's order (export keeps it on an even split); only gold is oriented.
                return gold && p.Label1 == 0
                    ? (p.Index, p.Line, p.Prompt, p.Image2, p.Image1, p.Model2, p.Model1)
                    : (p.Index, p.Line, p.Prompt, p.Image1, p.Image2, p.Model1, p.Model2);
            })
            : Hpdv3PairReader.ReadRecords(path).Select(r =>
            {
                if (gold && r.Pair.ChoiceDist is { } d && d[0] == d[1])
                {
                    throw new DatasetFormatException(path, r.Line, "a gold pair needs a known answer, but its choice_dist is an even split");
                }

                return (r.Pair.Index, r.Line, r.Pair.Prompt, r.Pair.Path1, r.Pair.Path2, r.Pair.Model1, r.Pair.Model2);
            });

        var pairs = new List<AnnotationPair>();
        foreach (var r in records)
        {
            foreach (var image in new[] { r.P1, r.P2 })
            {
                string full;
                try
                {
                    full = ImageRoot.Resolve(imagesRoot, image);
                }
                catch (ImagePathException ex)
                {
                    throw new UserInputException($"{path}:{r.Line}", ex.Message, ex);
                }

                if (!File.Exists(full))
                {
                    throw UserInputException.ForInput($"{path}:{r.Line}", $"image '{image}' not found under {new OptionField(nameof(AnnotationAppOptions.ImagesRoot))} '{imagesRoot}' ({full})");
                }
            }

            if (r.P1 == r.P2)
            {
                throw new UserInputException($"{path}:{r.Line}", $"path1 and path2 are the same image '{r.P1}'");
            }

            pairs.Add(new AnnotationPair(gold ? AnnotationPair.GoldId(r.Index) : r.Index, r.Prompt, r.P1, r.P2, r.M1, r.M2));
        }

        if (pairs.Count == 0)
        {
            throw new UserInputException(path, $"the {(gold ? "gold" : "pairs")} file holds no pairs");
        }

        return pairs;
    }

    /// <summary>True unless the file's first non-blank character opens a JSON array (a byte-order mark is skipped).</summary>
    private static bool IsJsonLines(string path)
    {
        using var reader = new StreamReader(path, detectEncodingFromByteOrderMarks: true);
        int c;
        while ((c = reader.Read()) >= 0 && char.IsWhiteSpace((char)c))
        {
        }

        return c != '[';
    }
}
