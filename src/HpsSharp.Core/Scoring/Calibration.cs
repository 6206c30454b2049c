using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpsSharp.Core.Scoring;

/// <summary>
/// A reference set's μ values, scored once (<c>hps calibrate</c>), against which a new μ is placed as a percentile
/// (0–100). HPSv3 scores have no fixed range; a percentile against a fixed, stated reference set puts them on one
/// scale with other rewards. The file also keeps the reference mean and standard deviation so a service can report
/// drift of its recent scores away from the reference.
/// </summary>
public sealed record Calibration
{
    /// <summary>File format version.</summary>
    [JsonPropertyName("version")]
    public int Version { get; init; } = 1;

    /// <summary>Which model scored the reference set (its fingerprint): percentiles from another model are meaningless.</summary>
    [JsonPropertyName("model")]
    public required string Model { get; init; }

    /// <summary>The model's fingerprint (<see cref="ModelInfo.Fingerprint"/>).</summary>
    [JsonPropertyName("fingerprint")]
    public required string Fingerprint { get; init; }

    /// <summary>The reference manifest, as given.</summary>
    [JsonPropertyName("reference")]
    public required string Reference { get; init; }

    /// <summary>SHA-256 of the reference manifest's bytes.</summary>
    [JsonPropertyName("reference_sha256")]
    public required string ReferenceSha256 { get; init; }

    /// <summary>Reference items that were scored (failed items are left out and counted in <see cref="Failed"/>).</summary>
    [JsonPropertyName("count")]
    public int Count { get; init; }

    /// <summary>Reference items the scorer could not score.</summary>
    [JsonPropertyName("failed")]
    public int Failed { get; init; }

    /// <summary>Mean μ of the reference set.</summary>
    [JsonPropertyName("mean")]
    public double Mean { get; init; }

    /// <summary>Population standard deviation of μ over the reference set.</summary>
    [JsonPropertyName("std")]
    public double Std { get; init; }

    /// <summary>Mean σ of the reference set; null for a scorer without σ (the baselines).</summary>
    [JsonPropertyName("mean_sigma")]
    public double? MeanSigma { get; init; }

    /// <summary>The registry name of the scorer that scored the reference set (files without it are HPSv3's).</summary>
    [JsonPropertyName("scorer")]
    public string Scorer { get; init; } = "hpsv3";

    /// <summary>The reference μ values, ascending.</summary>
    [JsonPropertyName("mu_sorted")]
    public required IReadOnlyList<double> MuSorted { get; init; }

    /// <summary>
    /// The percentile of <paramref name="mu"/> among the reference μ (mid-rank: values below count fully, equal
    /// values half), in [0, 100].
    /// </summary>
    public double Percentile(double mu)
    {
        if (MuSorted.Count == 0 || double.IsNaN(mu))
        {
            return double.NaN;
        }

        int below = LowerBound(mu);
        int upTo = UpperBound(mu);
        return 100.0 * (below + 0.5 * (upTo - below)) / MuSorted.Count;
    }

    /// <summary>Builds a calibration from reference scores (failed items already removed).</summary>
    public static Calibration FromScores(ModelInfo model, string reference, string referenceSha256, IReadOnlyList<Score> scores, int failed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count == 0)
        {
            throw new UserInputException(reference, "no reference item could be scored; a calibration needs at least one");
        }

        var mus = scores.Select(s => s.Mu).Order().ToArray();
        double mean = mus.Average();
        double std = Math.Sqrt(mus.Sum(m => (m - mean) * (m - mean)) / mus.Length);
        return new Calibration
        {
            Model = model.Name,
            Fingerprint = model.Fingerprint,
            Reference = reference,
            ReferenceSha256 = referenceSha256,
            Count = mus.Length,
            Failed = failed,
            Mean = mean,
            Std = std,
            MeanSigma = scores.All(s => s.HasUncertainty) ? scores.Average(s => s.Sigma) : null,
            Scorer = model.Scorer,
            MuSorted = mus,
        };
    }

    /// <summary>Reads and checks a calibration file; errors name the file and what is wrong.</summary>
    public static Calibration Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new UserInputException(path, "calibration file not found");
        }

        Calibration? c;
        try
        {
            c = JsonSerializer.Deserialize(File.ReadAllText(path), CalibrationJsonContext.Default.Calibration);
        }
        catch (JsonException ex)
        {
            throw new UserInputException(path, $"not a calibration file ({ex.Message})", ex);
        }

        if (c is null || c.MuSorted is null || c.MuSorted.Count == 0)
        {
            throw new UserInputException(path, "not a calibration file (no \"mu_sorted\" values)");
        }

        if (c.Version != 1)
        {
            throw new UserInputException(path, $"calibration version {c.Version} is not supported (expected 1)");
        }

        for (int i = 0; i < c.MuSorted.Count; i++)
        {
            if (!double.IsFinite(c.MuSorted[i]) || (i > 0 && c.MuSorted[i] < c.MuSorted[i - 1]))
            {
                throw new UserInputException(path, $"\"mu_sorted\"[{i}] is not finite or not in ascending order");
            }
        }

        return c;
    }

    /// <summary>Writes the file atomically (temporary file in the same folder, then rename).</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(tmp, JsonSerializer.Serialize(this, CalibrationJsonContext.Default.Calibration) + "\n");
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }

    private int LowerBound(double x)
    {
        int lo = 0, hi = MuSorted.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (MuSorted[mid] < x)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private int UpperBound(double x)
    {
        int lo = 0, hi = MuSorted.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (MuSorted[mid] <= x)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}

/// <summary>Source-generated JSON for <see cref="Calibration"/>.</summary>
[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(Calibration))]
internal sealed partial class CalibrationJsonContext : JsonSerializerContext;
