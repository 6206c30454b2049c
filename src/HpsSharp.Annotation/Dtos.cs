using System.Text.Json.Serialization;

namespace HpsSharp.Annotation;

/// <summary><c>GET /api/next</c>: the pair to judge, with image URLs in the order to show them.</summary>
/// <param name="Left">URL of the image to show on the left (<c>/images/</c> + its path relative to the image root).</param>
/// <param name="Done">Ordinary pairs this annotator has answered.</param>
/// <param name="Total">Ordinary pairs in the database.</param>
public sealed record NextDto(long PairId, string Prompt, string Left, string Right, int Done, int Total);

/// <summary><c>POST /api/judgement</c> body.</summary>
/// <param name="Choice">"left", "right", "tie" or "skip".</param>
/// <param name="Ms">Milliseconds the annotator took.</param>
public sealed record JudgementDto(long? PairId, string? Annotator, string? Choice, long? Ms);

/// <summary><c>POST /api/judgement</c> answer, sent once the judgement is committed.</summary>
public sealed record StoredDto(bool Stored, long Id, int Done, int Total);

/// <summary><c>GET /api/progress</c>: the annotator's progress and how far the model scoring is.</summary>
public sealed record ProgressDto(string Annotator, int Done, int Total, bool Model, int Scored);

/// <summary>Source-generated JSON for the annotation API (snake_case).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(NextDto))]
[JsonSerializable(typeof(JudgementDto))]
[JsonSerializable(typeof(StoredDto))]
[JsonSerializable(typeof(ProgressDto))]
public sealed partial class AnnotationJsonContext : JsonSerializerContext;
