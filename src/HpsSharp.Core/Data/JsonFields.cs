using System.Text.Json;

namespace HpsSharp.Core.Data;

/// <summary>Typed field access on one dataset record that throws <see cref="DatasetFormatException"/> naming the field.</summary>
internal readonly struct JsonFields
{
    private readonly JsonElement _e;
    private readonly string _path;
    private readonly long _line;
    private readonly string _where;

    public JsonFields(JsonElement element, string path, long line, string where)
    {
        _path = path;
        _line = line;
        _where = where;
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Error($"expected a JSON object, found {element.ValueKind.ToString().ToLowerInvariant()}");
        }

        _e = element;
    }

    public DatasetFormatException Error(string reason) => new(_path, _line, $"{_where}: {reason}");

    /// <summary>A string value; a lone surrogate escape (<c>"\ud800"</c>) is an error naming the field, not a crash.</summary>
    private string Text(JsonElement v, string name)
    {
        try
        {
            return v.GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new DatasetFormatException(_path, _line, $"{_where}: '{name}' is not valid Unicode text ({ex.Message})", ex);
        }
    }

    public bool Has(string name) => _e.TryGetProperty(name, out _);

    public string RequiredString(string name)
    {
        if (!_e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            throw Error($"'{name}' is missing");
        }

        if (v.ValueKind != JsonValueKind.String)
        {
            throw Error($"'{name}' must be a string, found {Kind(v)}");
        }

        return Text(v, name);
    }

    public string NonEmptyString(string name)
    {
        var s = RequiredString(name);
        if (s.Length == 0)
        {
            throw Error($"'{name}' is empty");
        }

        return s;
    }

    public string? OptionalString(string name)
    {
        if (!_e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.String)
        {
            throw Error($"'{name}' must be a string or null, found {Kind(v)}");
        }

        return Text(v, name);
    }

    public double? OptionalNumber(string name)
    {
        if (!_e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return Number(v, name);
    }

    public double RequiredNumber(string name)
    {
        if (!_e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            throw Error($"'{name}' is missing");
        }

        return Number(v, name);
    }

    public double[]? OptionalNumbers(string name)
    {
        if (!_e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw Error($"'{name}' must be an array of numbers or null, found {Kind(v)}");
        }

        var result = new double[v.GetArrayLength()];
        int i = 0;
        foreach (var x in v.EnumerateArray())
        {
            result[i] = Number(x, $"{name}[{i}]");
            i++;
        }

        return result;
    }

    public string[] RequiredStrings(string name)
    {
        if (!_e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            throw Error($"'{name}' is missing");
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw Error($"'{name}' must be an array of strings, found {Kind(v)}");
        }

        var result = new string[v.GetArrayLength()];
        int i = 0;
        foreach (var x in v.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.String || Text(x, $"{name}[{i}]").Length == 0)
            {
                throw Error($"'{name}[{i}]' must be a non-empty string, found {Kind(x)}");
            }

            result[i] = Text(x, $"{name}[{i}]");
            i++;
        }

        return result;
    }

    public double[] RequiredNumbers(string name) => OptionalNumbers(name) ?? throw Error($"'{name}' is missing");

    private double Number(JsonElement v, string name)
    {
        if (v.ValueKind != JsonValueKind.Number)
        {
            throw Error($"'{name}' must be a number, found {Kind(v)}");
        }

        double d = v.GetDouble();
        if (!double.IsFinite(d))
        {
            throw Error($"'{name}' is not a finite number");
        }

        return d;
    }

    private static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"the string {Truncate(v.GetRawText())}",
        JsonValueKind.Number => $"the number {v.GetRawText()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => v.ValueKind.ToString(),
    };

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
