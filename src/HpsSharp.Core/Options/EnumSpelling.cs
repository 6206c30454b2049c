using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpsSharp.Core;

/// <summary>
/// The one spelling of an option enum: each value's name as users type it (<c>bf16</c>, <c>uncertainty-mc</c>) plus
/// accepted aliases. Parsing, formatting, configuration binding (<see cref="SpellingTypeConverter{T}"/>) and JSON
/// (<see cref="SpellingJsonConverter{T}"/>) all go through it, so a spelling is written once.
/// </summary>
/// <typeparam name="T">The enum.</typeparam>
public sealed class EnumSpelling<T>
    where T : struct, Enum
{
    private readonly Dictionary<T, string> _names = [];
    private readonly Dictionary<string, T> _values = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _order = [];

    /// <param name="field">The option field this enum is usually given through (e.g. <c>Loss</c>), named in parse errors.</param>
    /// <param name="spellings">Each value with its canonical name first, then its aliases.</param>
    public EnumSpelling(string field, params (T Value, string[] Names)[] spellings)
    {
        ArgumentException.ThrowIfNullOrEmpty(field);
        ArgumentNullException.ThrowIfNull(spellings);
        Field = field;
        foreach (var (value, names) in spellings)
        {
            _names.Add(value, names[0]);
            _order.Add(names[0]);
            foreach (var n in names)
            {
                _values.Add(n, value);
            }
        }
    }

    /// <summary>The option field named in parse errors.</summary>
    public string Field { get; }

    /// <summary>The canonical names, in declaration order.</summary>
    public IReadOnlyList<string> Names => _order;

    /// <summary>"a, b or c": the canonical names for a message.</summary>
    public string Expected => _order.Count == 1 ? _order[0] : string.Join(", ", _order.Take(_order.Count - 1)) + " or " + _order[^1];

    /// <summary>The canonical name of <paramref name="value"/>.</summary>
    public string Name(T value) => _names.TryGetValue(value, out var n) ? n : throw new ArgumentOutOfRangeException(nameof(value), value, $"no spelling for {typeof(T).Name}.{value}");

    /// <summary>Parses a name or alias (case-insensitive, trimmed).</summary>
    public bool TryParse(string? text, out T value)
    {
        value = default;
        return text is not null && _values.TryGetValue(text.Trim(), out value);
    }

    /// <summary>Parses a name or alias; an unknown one is a <see cref="UserInputException"/> naming <paramref name="field"/> (default <see cref="Field"/>).</summary>
    public T Parse(string? text, string? field = null) => TryParse(text, out var v)
        ? v
        : throw UserInputException.ForOption(field ?? Field, $"unknown value '{text}' (expected {Expected})");
}

/// <summary>Binds an option enum from configuration text through its <see cref="EnumSpelling{T}"/>.</summary>
/// <typeparam name="T">The enum.</typeparam>
public abstract class SpellingTypeConverter<T>(EnumSpelling<T> spelling) : TypeConverter
    where T : struct, Enum
{
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? spelling.Parse(s) : base.ConvertFrom(context, culture, value);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is T t ? spelling.Name(t) : base.ConvertTo(context, culture, value, destinationType);
}

/// <summary>Writes and reads an option enum as its canonical name (<c>"bf16"</c>), as run files record it.</summary>
/// <typeparam name="T">The enum.</typeparam>
public abstract class SpellingJsonConverter<T>(EnumSpelling<T> spelling) : JsonConverter<T>
    where T : struct, Enum
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && spelling.TryParse(reader.GetString(), out var v)
            ? v
            : throw new JsonException($"expected one of {spelling.Expected}");

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(spelling.Name(value));
    }
}
