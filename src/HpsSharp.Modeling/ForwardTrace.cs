using static TorchSharp.torch;

namespace HpsSharp.Modeling;

/// <summary>
/// Intermediate tensors captured during one forward pass (fp32 copies, outside every dispose scope), named like the
/// parity fixtures (<c>patch_embeds</c>, <c>vision_embeds</c>, <c>final_hidden</c>, …). For parity tests and
/// debugging; off (null) in normal runs.
/// </summary>
internal sealed class ForwardTrace : IDisposable
{
    private readonly Dictionary<string, Tensor> _values = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, Tensor> Values => _values;

    public Tensor this[string name] => _values.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"trace has no '{name}' (has: {string.Join(", ", _values.Keys)})");

    public void Add(string name, Tensor value)
    {
        var copy = value.detach().to(ScalarType.Float32).clone().DetachFromDisposeScope();
        if (_values.Remove(name, out var old))
        {
            old.Dispose();
        }

        _values[name] = copy;
    }

    public void Dispose()
    {
        foreach (var t in _values.Values)
        {
            t.Dispose();
        }

        _values.Clear();
    }
}
