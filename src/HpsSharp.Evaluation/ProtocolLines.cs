using System.Globalization;
using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Evaluation;

/// <summary>
/// The protocols of the result records (Core's JSON contract) as (label, value) lines for the console, Markdown and
/// HTML reports. Field order is the order reports print them in.
/// </summary>
public static class ProtocolLines
{
    /// <summary>
    /// The "deterministic" protocol line, shared by <c>hps eval</c> and <c>hps benchmark</c>: whether every forward held
    /// one item, so no score depends on which other items shared its batch (null: precomputed scores, not known).
    /// </summary>
    public static string DescribeDeterministic(bool? deterministic) => deterministic switch
    {
        true => "yes: one item per forward, so scores do not depend on batch composition",
        false => "no: batched forwards; bf16 scores can move slightly with batch composition (one item per forward avoids it)",
        null => "unknown (scores file)",
    };

    /// <summary>The dataset and counting rules (a comparison's protocol).</summary>
    public static IReadOnlyList<(string Label, string Value)> Lines(this DatasetProtocol protocol) => Lines(protocol, [], []);

    /// <summary>An evaluation's protocol: the rules, the scorer and the image counts.</summary>
    public static IReadOnlyList<(string Label, string Value)> Lines(this EvalProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return Lines(protocol, Lines(protocol.Scorer),
        [
            ("missing images", Count(protocol.MissingImages)),
            ("failed images", Count(protocol.FailedImages)),
            ("skipped pairs (missing or failed image)", Count(protocol.SkippedPairs)),
        ]);
    }

    /// <summary>A benchmark's protocol.</summary>
    public static IReadOnlyList<(string Label, string Value)> Lines(this BenchmarkProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return
        [
            ("root", protocol.Root), ("layout", protocol.Layout), ("manifest sha256", protocol.ManifestSha256), ("images", Count(protocol.Images)),
            ("aggregation", protocol.Aggregation), ("reference", protocol.Reference), ("correlation", protocol.CorrelationDefinition),
            .. Lines(protocol.Scorer),
            ("images without a .txt prompt (skipped)", Count(protocol.MissingPrompts)),
            ("missing or failed images", Count(protocol.MissingOrFailed)),
            ("HpsSharp", protocol.Version), ("evaluated (UTC)", protocol.EvaluatedUtc),
        ];
    }

    /// <summary>The scorer's lines, the same in every protocol.</summary>
    public static IReadOnlyList<(string Label, string Value)> Lines(this ScorerDescription scorer)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        return
        [
            ("scores", scorer.Scores), ("model", scorer.Model), ("dtype", scorer.Dtype), ("preprocessing", scorer.Preprocessing),
            ("deterministic", DescribeDeterministic(scorer.Deterministic)),
        ];
    }

    private static IReadOnlyList<(string Label, string Value)> Lines(DatasetProtocol p, IReadOnlyList<(string, string)> scorer, IReadOnlyList<(string, string)> counts)
    {
        ArgumentNullException.ThrowIfNull(p);
        return
        [
            ("dataset", p.Dataset), ("format", p.Format), ("split", p.Split), ("dataset sha256", p.DatasetSha256),
            ("records", Count(p.Records)),
            ("metric", $"{p.Metric}: {p.MetricDefinition}"), ("tie policy", p.TiePolicyDefinition),
            ("ground-truth ties", p.GroundTruthTiesDefinition),
            .. scorer,
            ("images root", p.ImagesRoot ?? "(not used: images inside the dataset, or precomputed scores)"),
            .. counts,
            ("95% interval", p.Bootstrap), ("HpsSharp", p.Version), ("evaluated (UTC)", p.EvaluatedUtc),
        ];
    }

    private static string Count(long n) => n.ToString(CultureInfo.InvariantCulture);
}
