using System.Text;

namespace HpsSharp.Core.Safetensors;

/// <summary>
/// A checkpoint does not fit the model: every missing, unexpected and mismatched (shape or dtype) tensor is listed
/// at once, so one run shows everything that is wrong.
/// </summary>
public sealed class ModelLoadException : HpsException
{
    private const int ListedPerKind = 10;

    public ModelLoadException(string path, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<Hpsv3TensorMismatch> mismatched, string? hint = null)
        : base(Format(path, missing, unexpected, mismatched, hint))
    {
        Path = path;
        Missing = missing;
        Unexpected = unexpected;
        Mismatched = mismatched;
    }

    /// <summary>The checkpoint file or model folder.</summary>
    public string Path { get; }

    /// <summary>Tensors the model needs that the checkpoint lacks (flat names).</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Stored tensors the model has no place for.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Tensors with the wrong shape or dtype.</summary>
    public IReadOnlyList<Hpsv3TensorMismatch> Mismatched { get; }

    private static string Format(string path, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<Hpsv3TensorMismatch> mismatched, string? hint)
    {
        var sb = new StringBuilder();
        sb.Append(path).Append(": checkpoint does not match the model (")
          .Append(missing.Count).Append(" missing, ")
          .Append(unexpected.Count).Append(" unexpected, ")
          .Append(mismatched.Count).Append(" mismatched)");
        if (hint is not null)
        {
            sb.Append(". ").Append(hint);
        }

        void List(string title, IEnumerable<string> items, int count)
        {
            if (count == 0)
            {
                return;
            }

            sb.Append("; ").Append(title).Append(": ").Append(string.Join(", ", items.Take(ListedPerKind)));
            if (count > ListedPerKind)
            {
                sb.Append(", … (").Append(count - ListedPerKind).Append(" more)");
            }
        }

        List("missing", missing, missing.Count);
        List("unexpected", unexpected, unexpected.Count);
        List("mismatched", mismatched.Select(m => m.ToString()), mismatched.Count);
        return sb.ToString();
    }
}
