using System.Globalization;

namespace HpsSharp.Core;

/// <summary>
/// Base of HpsSharp's domain exceptions: an error in the user's input or environment (a bad file, a missing model,
/// a malformed dataset) that a program should report as a message rather than a crash. Each subclass is sealed
/// and carries the data that names the input and what is wrong.
/// </summary>
public abstract class HpsException : Exception
{
    private readonly FormattableString? _text;

    protected HpsException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    /// <summary>
    /// A message that mentions option fields as <see cref="OptionField"/> values (<c>$"pass {new OptionField("Format")}"</c>):
    /// <see cref="Exception.Message"/> names the fields, <see cref="Describe"/> prints them as a front end names them.
    /// </summary>
    protected HpsException(FormattableString message, Exception? inner = null)
        : base(message?.ToString(CultureInfo.InvariantCulture), inner)
    {
        _text = message;
    }

    /// <summary>The message with every option field printed as <paramref name="nameOf"/> names it (e.g. as its flag).</summary>
    public virtual string Describe(Func<string, string> nameOf)
    {
        ArgumentNullException.ThrowIfNull(nameOf);
        return _text is null ? Message : _text.ToString(new OptionNameFormat(nameOf));
    }
}

/// <summary>
/// An input the user gave is invalid (an option value, a path, a file's content). An option error
/// (<see cref="ForOption"/>) names the library field (<c>Out</c>, <c>BatchSize</c>), never a command-line flag: a
/// front end maps fields to its own names with <see cref="Describe"/>.
/// </summary>
public sealed class UserInputException : HpsException
{
    private readonly FormattableString? _reason;

    public UserInputException(string input, string reason, Exception? inner = null)
        : base($"{input}: {reason}", inner)
    {
        Input = input;
        Reason = reason;
    }

    private UserInputException(string input, bool isField, FormattableString reason, Exception? inner)
        : base($"{input}: {reason.ToString(CultureInfo.InvariantCulture)}", inner)
    {
        Input = input;
        Field = isField ? input : null;
        Reason = reason.ToString(CultureInfo.InvariantCulture);
        _reason = reason;
    }

    /// <summary>
    /// An option field's value is wrong. <paramref name="reason"/> may mention other fields as
    /// <see cref="OptionField"/> values so that a front end can print them under its own names.
    /// </summary>
    public static UserInputException ForOption(string field, FormattableString reason, Exception? inner = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(field);
        ArgumentNullException.ThrowIfNull(reason);
        return new UserInputException(field, true, reason, inner);
    }

    /// <summary>
    /// An input that is not an option (a file, a line of one) is wrong, and the advice names an option field
    /// (<c>$"not found under {new OptionField("Images")}"</c>) that a front end prints under its own name.
    /// </summary>
    public static UserInputException ForInput(string input, FormattableString reason, Exception? inner = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        ArgumentNullException.ThrowIfNull(reason);
        return new UserInputException(input, false, reason, inner);
    }

    /// <summary>The input that is wrong (option field, file).</summary>
    public string Input { get; }

    /// <summary>The option field that is wrong (e.g. <c>Out</c>), when the input is an option; null for a file or other input.</summary>
    public string? Field { get; }

    /// <summary>What is wrong with it (fields named by their library names).</summary>
    public string Reason { get; }

    /// <inheritdoc/>
    public override string Describe(Func<string, string> nameOf)
    {
        ArgumentNullException.ThrowIfNull(nameOf);
        return _reason is null ? Message : $"{(Field is null ? Input : nameOf(Field))}: {_reason.ToString(new OptionNameFormat(nameOf))}";
    }
}
