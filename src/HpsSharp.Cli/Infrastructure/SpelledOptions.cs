using System.CommandLine;
using System.CommandLine.Parsing;
using HpsSharp.Core;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// Command-line options whose values are Core's option types (<see cref="Precision"/>, <see cref="DeviceSpec"/>):
/// parsed once, here, through the one spelling each type has, so <c>--dtype</c> reads the same words on every
/// command as in a training config file, and the libraries receive the typed value.
/// </summary>
internal static class SpelledOptions
{
    /// <summary>
    /// An option read through <paramref name="spelling"/>; an unknown word is a usage error naming the flag and the
    /// choices. Its default is the enum's first value (<c>default(T)</c>), written in the help by its spelling:
    /// System.CommandLine would print a default value factory's result with the C# name (<c>Bf16</c>).
    /// </summary>
    /// <remarks><paramref name="name"/> must be the flag <see cref="OptionFlags"/> gives the spelling's field, as parse errors name that field.</remarks>
    public static Option<T> Create<T>(string name, EnumSpelling<T> spelling, string description)
        where T : struct, Enum
    {
        ArgumentNullException.ThrowIfNull(spelling);
        var option = new Option<T>(name)
        {
            Description = $"{description} [default: {spelling.Name(default)}]",
            HelpName = string.Join('|', spelling.Names),
            CustomParser = r => Parse(r, t => spelling.Parse(t)),
        };
        option.CompletionSources.Clear();
        option.CompletionSources.Add([.. spelling.Names]);
        return option;
    }

    /// <summary><c>--dtype</c>: the backbone precision (bf16 as released, or fp32).</summary>
    public static Option<Precision> Dtype(string description) => Create("--dtype", Precisions.Spelling, description);

    /// <summary><c>--device</c>: <c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>.</summary>
    public static Option<DeviceSpec> Device(string description)
    {
        var option = new Option<DeviceSpec>("--device")
        {
            Description = description,
            HelpName = "cpu|cuda[:N]",
            DefaultValueFactory = _ => DeviceSpec.Cpu,
            CustomParser = r => Parse(r, t => DeviceSpec.Parse(t)),
        };
        option.CompletionSources.Add(["cpu", "cuda"]);
        return option;
    }

    // The library's parse error names its field (Dtype, Device); printed as the flag, it reads as train's does.
    private static T Parse<T>(ArgumentResult result, Func<string, T> parse)
        where T : struct
    {
        try
        {
            return parse(result.Tokens.Count > 0 ? result.Tokens[^1].Value : string.Empty);
        }
        catch (UserInputException ex)
        {
            result.AddError(OptionFlags.Describe(ex));
            return default;
        }
    }
}
