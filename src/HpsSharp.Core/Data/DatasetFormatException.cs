using System.Globalization;
using System.Runtime.CompilerServices;

namespace HpsSharp.Core.Data;

/// <summary>
/// A dataset file has a record that cannot be read: names the file, the place in it (a 1-based line for JSON and
/// JSONL, a 0-based row for Parquet) and what is wrong.
/// </summary>
public sealed class DatasetFormatException : HpsException
{
    /// <summary>A bad record at 1-based <paramref name="line"/> of <paramref name="path"/>.</summary>
    public DatasetFormatException(string path, long line, string reason, Exception? inner = null)
        : this(path, line, reason, "line", inner)
    {
    }

    /// <summary>A bad record at a place counted in <paramref name="unit"/> ("line", "row").</summary>
    public DatasetFormatException(string path, long line, string reason, string unit, Exception? inner = null)
        : base($"{path}, {unit} {line}: {reason}", inner)
    {
        Path = path;
        Line = line;
        Reason = reason;
        Unit = unit;
    }

    private DatasetFormatException(string path, long line, FormattableString reason, Exception? inner)
        : base(FormattableStringFactory.Create("{0}, line {1}: {2}", path, line, reason), inner)
    {
        Path = path;
        Line = line;
        Reason = reason.ToString(CultureInfo.InvariantCulture);
        Unit = "line";
    }

    /// <summary>
    /// A bad record at 1-based <paramref name="line"/> whose <paramref name="reason"/> advises an option field
    /// (<c>$"pass {new OptionField("Format")}"</c>), printed by a front end under its own name (<see cref="HpsException.Describe"/>).
    /// </summary>
    public static DatasetFormatException Advising(string path, long line, FormattableString reason, Exception? inner = null)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return new DatasetFormatException(path, line, reason, inner);
    }

    /// <summary>The dataset file.</summary>
    public string Path { get; }

    /// <summary>Where in the file: the line (1-based) or, when <see cref="Unit"/> is "row", the row (0-based).</summary>
    public long Line { get; }

    /// <summary>What is wrong with the record.</summary>
    public string Reason { get; }

    /// <summary>"line" or "row".</summary>
    public string Unit { get; }
}
