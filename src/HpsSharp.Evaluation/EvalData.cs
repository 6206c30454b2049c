using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Data;
using HpsSharp.Core.Metrics;
using HpsSharp.Evaluation.Data;

namespace HpsSharp.Evaluation;

/// <summary>The dataset formats <c>hps eval</c> reads.</summary>
public enum DatasetFormat
{
    /// <summary>HPDv3 annotation JSON (<c>test.json</c>, <c>all.json</c>): pairs, path1 preferred.</summary>
    Hpdv3,

    /// <summary>ImageRewardDB test format: rankings <c>{id, prompt, generations[], ranking[]}</c>.</summary>
    ImageReward,

    /// <summary>Pick-a-Pic parquet: pairs of encoded images with labels; 0.5/0.5 is a tie.</summary>
    Pickapic,

    /// <summary>HPDv2 test JSON: rankings <c>{prompt, image_path[], rank[]}</c>.</summary>
    Hpdv2,

    /// <summary>Generic JSON Lines: pairs or rankings (see <see cref="JsonlReader"/>).</summary>
    Jsonl,
}

/// <summary>Which metric a dataset is evaluated with.</summary>
public enum MetricKind
{
    /// <summary>Accuracy over judged pairs.</summary>
    PairAccuracy,

    /// <summary>Accuracy over the pairs i &lt; j of each ranked item with different human ranks.</summary>
    RankingAccuracy,
}

/// <summary>
/// An image of a dataset: <see cref="Key"/> is the path exactly as written in the dataset (what a scores file
/// names), or for Pick-a-Pic the image uid (or <c>row N/jpg_0</c>); <see cref="Bytes"/> holds encoded images that
/// live inside the dataset file.
/// </summary>
public sealed record ImageRef(string Key, ReadOnlyMemory<byte>? Bytes = null);

/// <summary>A judged pair, oriented so that <see cref="Preferred"/> is the human choice (either one for a tie).</summary>
public sealed record EvalPair(long Index, long Line, string Prompt, ImageRef Preferred, ImageRef Other, bool TruthTie, string? ModelPreferred, string? ModelOther, string? Category);

/// <summary>A ranked item: images with human ranks (lower = better).</summary>
public sealed record EvalRanking(long Index, long Line, string Id, string Prompt, IReadOnlyList<ImageRef> Images, IReadOnlyList<double> Ranks, string? Category);

/// <summary>An opened dataset: its format, metric, and a way to stream its items.</summary>
public sealed class EvalDataset
{
    private EvalDataset(string path, DatasetFormat format, MetricKind metric)
    {
        Path = path;
        Format = format;
        Metric = metric;
    }

    /// <summary>The dataset file.</summary>
    public string Path { get; }

    /// <summary>Its format.</summary>
    public DatasetFormat Format { get; }

    /// <summary>The metric it is evaluated with.</summary>
    public MetricKind Metric { get; }

    /// <summary>
    /// How human ties count unless the caller chooses (docs/evaluation.md#pair-accuracy): HPDv3 counts every listed pair with path1
    /// preferred, as <c>evaluate.py</c> does (it never reads <c>choice_dist</c>); the ranking formats (ImageReward,
    /// HPDv2, JSONL rankings) skip equal ranks as <c>calc_rank_acc</c> does; Pick-a-Pic 0.5/0.5 rows and JSONL
    /// <c>"label": 0.5</c> pairs name no preferred image, so they are left out (docs/quirks.md O4: the paper does not say).
    /// </summary>
    public static GroundTruthTiePolicy DefaultTruthTies(DatasetFormat format) =>
        format == DatasetFormat.Hpdv3 ? GroundTruthTiePolicy.Listed : GroundTruthTiePolicy.Exclude;

    /// <summary>Lower-case format name as on the command line.</summary>
    public static string Name(DatasetFormat format) => format.ToString().ToLowerInvariant();

    /// <summary>Parses a format name ("hpdv3", "imagereward", "pickapic", "hpdv2", "jsonl").</summary>
    public static DatasetFormat ParseFormat(string name)
    {
        foreach (var f in Enum.GetValues<DatasetFormat>())
        {
            if (string.Equals(Name(f), name, StringComparison.OrdinalIgnoreCase))
            {
                return f;
            }
        }

        throw new ArgumentException($"unknown dataset format '{name}' (expected hpdv3, imagereward, pickapic, hpdv2 or jsonl)");
    }

    /// <summary>Opens <paramref name="path"/>; with no format, detects it from the extension and the first record's fields.</summary>
    public static EvalDataset Open(string path, DatasetFormat? format = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"dataset file '{path}' does not exist", path);
        }

        var f = format ?? Detect(path);
        var metric = f switch
        {
            DatasetFormat.ImageReward or DatasetFormat.Hpdv2 => MetricKind.RankingAccuracy,
            DatasetFormat.Jsonl => JsonlReader.IsRanking(path) ? MetricKind.RankingAccuracy : MetricKind.PairAccuracy,
            _ => MetricKind.PairAccuracy,
        };
        return new EvalDataset(path, f, metric);
    }

    /// <summary>Detects the format: <c>.parquet</c> → Pick-a-Pic, <c>.jsonl</c> → JSONL, a JSON array → by the first record's fields.</summary>
    public static DatasetFormat Detect(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".parquet")
        {
            return DatasetFormat.Pickapic;
        }

        if (ext is ".jsonl" or ".ndjson")
        {
            return DatasetFormat.Jsonl;
        }

        foreach (var item in JsonArrayStream.Read(path))
        {
            var e = item.Element;
            if (e.ValueKind == JsonValueKind.Object)
            {
                if (e.TryGetProperty("path1", out _))
                {
                    return DatasetFormat.Hpdv3;
                }

                if (e.TryGetProperty("generations", out _))
                {
                    return DatasetFormat.ImageReward;
                }

                if (e.TryGetProperty("image_path", out _))
                {
                    return DatasetFormat.Hpdv2;
                }
            }

            throw DatasetFormatException.Advising(path, item.Line, $"cannot tell the format from the first record (no 'path1', 'generations' or 'image_path' field); pass {new OptionField(nameof(Format))}");
        }

        throw DatasetFormatException.Advising(path, 1, $"the dataset is empty, so its format cannot be detected; pass {new OptionField(nameof(Format))}");
    }

    /// <summary>Streams the pairs (only for <see cref="MetricKind.PairAccuracy"/> datasets).</summary>
    public IEnumerable<EvalPair> Pairs()
    {
        if (Metric != MetricKind.PairAccuracy)
        {
            throw new InvalidOperationException($"{Path} is a ranking dataset");
        }

        return Format switch
        {
            DatasetFormat.Hpdv3 => Hpdv3PairReader.ReadRecords(Path).Select(r => new EvalPair(
                r.Pair.Index, r.Line, r.Pair.Prompt, new ImageRef(r.Pair.Path1), new ImageRef(r.Pair.Path2),
                r.Pair.ChoiceDist is { } d && d[0] == d[1], r.Pair.Model1, r.Pair.Model2, r.Category)),
            DatasetFormat.Pickapic => PickapicParquetReader.Read(Path).Select(FromPickapic),
            _ => JsonlReader.ReadPairs(Path).Select(p => p.Label1 == 0
                ? new EvalPair(p.Index, p.Line, p.Prompt, new ImageRef(p.Image2), new ImageRef(p.Image1), false, p.Model2, p.Model1, p.Category)
                : new EvalPair(p.Index, p.Line, p.Prompt, new ImageRef(p.Image1), new ImageRef(p.Image2), p.Label1 == 0.5, p.Model1, p.Model2, p.Category)),
        };
    }

    /// <summary>Streams the ranked items (only for <see cref="MetricKind.RankingAccuracy"/> datasets).</summary>
    public IEnumerable<EvalRanking> Rankings()
    {
        if (Metric != MetricKind.RankingAccuracy)
        {
            throw new InvalidOperationException($"{Path} is a pair dataset");
        }

        var items = Format switch
        {
            DatasetFormat.ImageReward => ImageRewardReader.Read(Path),
            DatasetFormat.Hpdv2 => Hpdv2TestReader.Read(Path),
            _ => JsonlReader.ReadRankings(Path),
        };
        return items.Select(r => new EvalRanking(r.Index, r.Line, r.Id, r.Prompt, r.Images.Select(i => new ImageRef(i)).ToArray(), r.Ranks, r.Category));
    }

    private static EvalPair FromPickapic(PickapicPair p)
    {
        var a = new ImageRef(p.Uid0 ?? $"row {p.Row}/jpg_0", p.Jpg0);
        var b = new ImageRef(p.Uid1 ?? $"row {p.Row}/jpg_1", p.Jpg1);
        return p.Label1 > p.Label0
            ? new EvalPair(p.Row, p.Row, p.Caption, b, a, false, null, null, null)
            : new EvalPair(p.Row, p.Row, p.Caption, a, b, p.IsTie, null, null, null);
    }
}
