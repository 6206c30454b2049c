using System.ComponentModel;
using System.Text.Json.Serialization;
using HpsSharp.Core;

namespace HpsSharp.Training.Data;

/// <summary>
/// One training pair: <see cref="Preferred"/> (HPDv3 <c>path1</c>, always the preferred image) and
/// <see cref="Other"/> (<c>path2</c>) for the same prompt. Paths are resolved against the image root.
/// </summary>
/// <param name="Row">0-based row of the pair in its source file (for messages and the data position).</param>
/// <param name="Prompt">The text prompt of both images.</param>
/// <param name="Preferred">Resolved path of the preferred image.</param>
/// <param name="Other">Resolved path of the other image.</param>
/// <param name="ChoiceDist">Annotator votes [for preferred, for other], when given (used by the tie mask).</param>
/// <param name="Confidence">Annotation confidence, when given.</param>
public sealed record PreferencePair(long Row, string Prompt, string Preferred, string Other, double[]? ChoiceDist, double? Confidence);

/// <summary>What to do with a pair whose <c>confidence</c> is an explicit JSON <c>null</c> (docs/quirks.md Q7).</summary>
[TypeConverter(typeof(NullConfidencePolicyTypeConverter))]
[JsonConverter(typeof(NullConfidencePolicyJsonConverter))]
public enum NullConfidencePolicy
{
    /// <summary>Keep it, like a pair without the key (HpsSharp's default; counted in the summary).</summary>
    Keep,

    /// <summary>Drop it (counted in the summary).</summary>
    Drop,

    /// <summary>Stop with an error naming the row (what the released Python code effectively does).</summary>
    Error,
}

/// <summary>Pair file formats accepted by <c>hps train</c>.</summary>
[TypeConverter(typeof(PairFormatTypeConverter))]
[JsonConverter(typeof(PairFormatJsonConverter))]
public enum PairFormat
{
    /// <summary>HPDv3 <c>train.json</c>/<c>all.json</c>: one JSON array of <c>{prompt, path1, path2, choice_dist?, confidence?, model1?, model2?}</c>.</summary>
    Hpdv3,

    /// <summary>JSON Lines, one object per line with the same keys (also <c>preferred</c>/<c>other</c> for <c>path1</c>/<c>path2</c>).</summary>
    Jsonl,
}

/// <summary>The one spelling of <see cref="PairFormat"/> and <see cref="NullConfidencePolicy"/>.</summary>
public static class PairSpellings
{
    /// <summary>hpdv3 (alias json) or jsonl.</summary>
    public static EnumSpelling<PairFormat> Format { get; } = new("Format",
        (PairFormat.Hpdv3, ["hpdv3", "json"]),
        (PairFormat.Jsonl, ["jsonl"]));

    /// <summary>keep, drop or error.</summary>
    public static EnumSpelling<NullConfidencePolicy> NullConfidence { get; } = new("NullConfidence",
        (NullConfidencePolicy.Keep, ["keep"]),
        (NullConfidencePolicy.Drop, ["drop"]),
        (NullConfidencePolicy.Error, ["error"]));
}

internal sealed class PairFormatTypeConverter() : SpellingTypeConverter<PairFormat>(PairSpellings.Format);

internal sealed class PairFormatJsonConverter() : SpellingJsonConverter<PairFormat>(PairSpellings.Format);

internal sealed class NullConfidencePolicyTypeConverter() : SpellingTypeConverter<NullConfidencePolicy>(PairSpellings.NullConfidence);

internal sealed class NullConfidencePolicyJsonConverter() : SpellingJsonConverter<NullConfidencePolicy>(PairSpellings.NullConfidence);
