using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpsSharp.Diagnostics;

/// <summary>One finding of <see cref="Doctor"/>.</summary>
/// <param name="Name">Stable short name (<c>libtorch</c>, <c>memory</c>, <c>tokenizer</c>, ...).</param>
/// <param name="Ok">False when the check found a problem.</param>
/// <param name="Detail">What was found, in one line.</param>
/// <param name="Fix">What to do about a problem; null when there is none.</param>
/// <param name="Required">
/// True when a failure means scoring cannot work (it makes the report fail and <c>hps doctor</c> exit 1); false for
/// advice (no CUDA, no AVX-512 bf16).
/// </param>
public sealed record DoctorCheck(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("ok")] bool Ok,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("fix")] string? Fix,
    [property: JsonPropertyName("required")] bool Required = true)
{
    /// <summary>A passed check.</summary>
    public static DoctorCheck Pass(string name, string detail, bool required = true) => new(name, true, detail, null, required);

    /// <summary>A failed check with the fix to apply.</summary>
    public static DoctorCheck Fail(string name, string detail, string fix, bool required = true) => new(name, false, detail, fix, required);
}

/// <summary>Everything <c>hps doctor</c> found.</summary>
/// <param name="Checks">The checks in the order they ran.</param>
public sealed record DoctorReport([property: JsonPropertyName("checks")] IReadOnlyList<DoctorCheck> Checks)
{
    /// <summary>True when every required check passed.</summary>
    [JsonPropertyName("ok")]
    [JsonPropertyOrder(-1)]
    public bool Ok => Checks.All(c => c.Ok || !c.Required);

    /// <summary>The check named <paramref name="name"/>, or null.</summary>
    public DoctorCheck? this[string name] => Checks.FirstOrDefault(c => c.Name == name);

    /// <summary><c>{"ok": bool, "checks": [{"name", "ok", "detail", "fix", "required"}]}</c>, indented.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json.DoctorReport);

    // Paths and arrows stay readable: the output is a document for people and programs, never embedded in HTML.
    private static readonly DoctorJsonContext Json = new(new JsonSerializerOptions
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

[JsonSerializable(typeof(DoctorReport))]
internal sealed partial class DoctorJsonContext : JsonSerializerContext;
