using System.Globalization;

namespace HpsSharp.Core;

/// <summary>
/// A reference to another option field inside an option error's reason
/// (<c>$"continues the run in {new OptionField(nameof(Out))}"</c>): printed as the field name by the library and as
/// the flag by the CLI, which renders the reason with an <see cref="OptionNameFormat"/>. Libraries never spell flags.
/// </summary>
/// <param name="Name">The field's name (a property name such as <c>Out</c>).</param>
public readonly record struct OptionField(string Name) : IFormattable
{
    public string ToString(string? format, IFormatProvider? formatProvider) =>
        formatProvider?.GetFormat(typeof(OptionNameFormat)) is OptionNameFormat names ? names.NameOf(Name) : Name;

    public override string ToString() => Name;
}

/// <summary>Renders <see cref="OptionField"/>s through a naming function (e.g. field → command-line flag); otherwise invariant.</summary>
/// <param name="nameOf">The name to print for a field.</param>
public sealed class OptionNameFormat(Func<string, string> nameOf) : IFormatProvider
{
    /// <summary>The printed name of a field.</summary>
    public string NameOf(string field) => nameOf(field);

    public object? GetFormat(Type? formatType) => formatType == typeof(OptionNameFormat) ? this : CultureInfo.InvariantCulture.GetFormat(formatType);
}
