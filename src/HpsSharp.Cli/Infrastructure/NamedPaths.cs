namespace HpsSharp.Cli.Infrastructure;

/// <summary>Repeated <c>NAME=PATH</c> option values (<c>--model-for</c>, <c>--calibration-for</c>, <c>--scores-for</c>).</summary>
public static class NamedPaths
{
    /// <summary>Parses the values; names are lower-cased and must be among <paramref name="allowed"/>, each given once.</summary>
    /// <param name="values">The option's values.</param>
    /// <param name="option">The option's name, for messages.</param>
    /// <param name="allowed">The scorer names a value may name.</param>
    /// <param name="what">What <paramref name="allowed"/> are, for messages ("hosted scorers").</param>
    /// <exception cref="UsageException">A value is not NAME=PATH, names another scorer, or repeats a name.</exception>
    public static Dictionary<string, string> Parse(string[]? values, string option, IReadOnlyList<string> allowed, string what = "scorers named")
    {
        ArgumentNullException.ThrowIfNull(allowed);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in values ?? [])
        {
            int eq = v.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == v.Length - 1)
            {
                throw new UsageException($"{option}: '{v}' is not NAME=PATH");
            }

            var name = v[..eq].Trim().ToLowerInvariant();
            if (!allowed.Contains(name))
            {
                throw new UsageException($"{option}: '{name}' is not one of the {what} ({string.Join(", ", allowed)})");
            }

            if (!map.TryAdd(name, v[(eq + 1)..]))
            {
                throw new UsageException($"{option}: '{name}' is given twice");
            }
        }

        return map;
    }

    /// <summary>
    /// The registry names in a comma-separated list such as <c>hpsv3,pickscore</c>, canonical and in the given order.
    /// </summary>
    /// <exception cref="UsageException">The list is empty, names an unknown scorer or one twice.</exception>
    public static List<string> ScorerNames(string list, string option)
    {
        ArgumentNullException.ThrowIfNull(list);
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0)
        {
            throw new UsageException($"{option}: name at least one scorer, e.g. hpsv3,pickscore");
        }

        var canonical = new List<string>();
        foreach (var n in names)
        {
            var known = HpsSharp.Modeling.Scorers.ScorerRegistry.Names.FirstOrDefault(k => string.Equals(k, n, StringComparison.OrdinalIgnoreCase))
                ?? throw new UsageException($"{option}: unknown scorer '{n}' (known: {string.Join(", ", HpsSharp.Modeling.Scorers.ScorerRegistry.Names)})");
            if (canonical.Contains(known))
            {
                throw new UsageException($"{option}: '{known}' is named twice");
            }

            canonical.Add(known);
        }

        return canonical;
    }
}
