using System.Text.Json.Serialization;

namespace HpsSharp.Core.Scoring.Contracts;

/// <summary>
/// The <c>"model"</c> object of every JSON output (<c>hps score|compare|rank --json</c>, the service's answers, a CoHP
/// <c>run.json</c>, an <c>hps score --json</c> document read back by <c>hps eval --scores</c>): which model produced the
/// numbers, so that a reader can tell a test model from the released HPSv3.
/// </summary>
public sealed record ModelRecord
{
    /// <summary>Human-readable name, e.g. "HPSv3 (MizzenAI/HPSv3)" or "tiny test model".</summary>
    public string Name { get; init; } = "unknown model";

    /// <summary>The scorer's registry name (<c>hpsv3</c>, <c>pickscore</c>, ...).</summary>
    public string Scorer { get; init; } = "hpsv3";

    /// <summary>Identity of the weights' content and the settings.</summary>
    public string Fingerprint { get; init; } = string.Empty;

    /// <summary>True only for the released HPSv3 7B checkpoint.</summary>
    public bool ReleasedHpsv3 { get; init; }

    /// <summary><c>bf16</c> or <c>fp32</c>.</summary>
    public string Dtype { get; init; } = "?";

    /// <summary>Image pixel budget lower bound of the preprocessing.</summary>
    public int MinPixels { get; init; }

    /// <summary>Image pixel budget upper bound of the preprocessing.</summary>
    public int MaxPixels { get; init; }

    /// <summary>The service with several scorers: every hosted scorer's model, the primary (this one) first.</summary>
    public IReadOnlyList<ModelRecord>? Hosted { get; init; }

    /// <summary>The record of a loaded scorer's model.</summary>
    public static ModelRecord From(ModelInfo model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new()
        {
            Name = model.Name,
            Scorer = model.Scorer,
            Fingerprint = model.Fingerprint,
            ReleasedHpsv3 = model.IsReleasedHpsv3,
            Dtype = model.Dtype,
            MinPixels = model.MinPixels,
            MaxPixels = model.MaxPixels,
        };
    }

    /// <summary>The model this record describes (for a document read back, e.g. scores from <c>hps score --json</c>).</summary>
    public ModelInfo ToModelInfo() =>
        new(Name ?? "unknown model", Fingerprint ?? string.Empty, ReleasedHpsv3, Dtype ?? "?", MinPixels, MaxPixels) { Scorer = Scorer ?? "hpsv3" };
}
