using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace HpsSharp.Core.Scoring.Contracts;

/// <summary>
/// The one source-generated JSON context for the records other programs read (PRODUCT.md): snake_case names, nulls
/// left out unless a record keeps one on purpose (a failed item's <c>mu</c>, a comparison's <c>p_a_over_b</c>).
/// The commands print through <see cref="Indented"/> or <see cref="Compact"/>; the service chains <see cref="Default"/>;
/// evaluation and benchmark results go through <see cref="Report"/>.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ModelRecord))]
[JsonSerializable(typeof(ScoreDocument))]
[JsonSerializable(typeof(RankDocument))]
[JsonSerializable(typeof(CompareDocument))]
[JsonSerializable(typeof(TokenizeDocument))]
[JsonSerializable(typeof(VideoDocument))]
[JsonSerializable(typeof(ClusterStatusDocument))]
[JsonSerializable(typeof(ClusterResultLine))]
[JsonSerializable(typeof(ClusterJobSummaryRecord))]
[JsonSerializable(typeof(ScoreResponseDto))]
[JsonSerializable(typeof(CompareResponseDto))]
[JsonSerializable(typeof(RankResponseDto))]
[JsonSerializable(typeof(StatusDto))]
[JsonSerializable(typeof(ScoreRequestDto))]
[JsonSerializable(typeof(CompareRequestDto))]
[JsonSerializable(typeof(RankRequestDto))]
[JsonSerializable(typeof(ModelDownloadDocument))]
[JsonSerializable(typeof(ModelConvertDocument))]
[JsonSerializable(typeof(EvalResult))]
[JsonSerializable(typeof(EvalComparison))]
[JsonSerializable(typeof(BenchmarkResult))]
public sealed partial class ContractJson : JsonSerializerContext
{
    /// <summary>
    /// Indented output for <c>--json</c>. The default encoder escapes '+', '&lt;' and every non-ASCII character (a
    /// prompt "a + b × c" came out as "a \u002B b \u00D7 c"); stdout and files are not HTML, so the relaxed encoder is
    /// right here: it still escapes quotes, backslashes and control characters, so the output stays valid JSON.
    /// </summary>
    public static ContractJson Indented => IndentedContext.Value;

    /// <summary>One-line output with the relaxed encoder (see <see cref="Indented"/>).</summary>
    public static ContractJson Compact => CompactContext.Value;

    /// <summary>
    /// The evaluation and benchmark results (<c>hps eval|benchmark --json</c>, a report's <c>result.json</c>): indented
    /// like <see cref="Indented"/>, but every field is written, null included (an accuracy without pairs, a missing
    /// interval, an unused images root), so that a reader sees the whole protocol; a non-finite number is written as
    /// <c>"NaN"</c> rather than failing the report.
    /// </summary>
    public static ContractJson Report => ReportContext.Value;

    // Lazy: the generated Default is a static of another part of this class, so its initialisation order is not ours.
    private static readonly Lazy<ContractJson> IndentedContext = new(() => new(new JsonSerializerOptions(ContractJson.Default!.Options)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    }));

    private static readonly Lazy<ContractJson> CompactContext = new(() => new(new JsonSerializerOptions(ContractJson.Default!.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    }));

    private static readonly Lazy<ContractJson> ReportContext = new(() => new(new JsonSerializerOptions(ContractJson.Default!.Options)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    }));

    /// <summary>The JSON text of <paramref name="value"/>.</summary>
    public static string Write<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);
}
