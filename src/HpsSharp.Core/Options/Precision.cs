using System.ComponentModel;
using System.Text.Json.Serialization;

namespace HpsSharp.Core;

/// <summary>The floating type of a model's backbone (its head and the optimizer state stay fp32).</summary>
[TypeConverter(typeof(PrecisionTypeConverter))]
[JsonConverter(typeof(PrecisionJsonConverter))]
public enum Precision
{
    /// <summary><c>bf16</c>: as HPSv3 is released and trained.</summary>
    Bf16,

    /// <summary><c>fp32</c>: exact mode.</summary>
    Fp32,
}

/// <summary>The spelling of <see cref="Precision"/>: <c>bf16</c> (also bfloat16) and <c>fp32</c> (also float32).</summary>
public static class Precisions
{
    /// <summary>The one spelling table; fp16 is deliberately absent (pathologically slow on CPUs, never released).</summary>
    public static EnumSpelling<Precision> Spelling { get; } = new("Dtype",
        (Precision.Bf16, ["bf16", "bfloat16"]),
        (Precision.Fp32, ["fp32", "float32"]));

    /// <summary>The canonical name (<c>bf16</c> or <c>fp32</c>).</summary>
    public static string Name(this Precision precision) => Spelling.Name(precision);

    /// <summary>Parses <c>bf16</c>/<c>fp32</c> (or an alias); an unknown name names the <c>Dtype</c> field.</summary>
    public static Precision Parse(string? text) => Spelling.Parse(text);
}

internal sealed class PrecisionTypeConverter() : SpellingTypeConverter<Precision>(Precisions.Spelling);

internal sealed class PrecisionJsonConverter() : SpellingJsonConverter<Precision>(Precisions.Spelling);
