using System.Text.Encodings.Web;
using System.Text.Json;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// JSON writer settings for everything <c>--json</c> prints. The default encoder escapes '+', '&lt;', and every
/// non-ASCII character (a prompt "a + b × c" came out as "a \u002B b \u00D7 c"); stdout is not HTML, so the relaxed
/// encoder is right here: it still escapes quotes, backslashes and control characters, so the output stays valid JSON.
/// </summary>
public static class CliJson
{
    /// <summary>Indented output with the relaxed encoder.</summary>
    public static JsonWriterOptions Indented { get; } = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Compact output with the relaxed encoder.</summary>
    public static JsonWriterOptions Compact { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Serializer options (for <c>JsonNode.ToJsonString</c>) with the relaxed encoder.</summary>
    public static JsonSerializerOptions Serializer { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
