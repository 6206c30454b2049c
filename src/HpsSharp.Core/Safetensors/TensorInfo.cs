namespace HpsSharp.Core.Safetensors;

/// <summary>One tensor entry of a safetensors header; offsets are relative to the start of the data section.</summary>
public sealed record TensorInfo(string Name, SafetensorsDtype Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>End − Begin.</summary>
    public long ByteLength => End - Begin;

    /// <summary>Product of the shape (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>"name BF16 [3584, 3584]".</summary>
    public string Describe() => $"{Name} {SafetensorsDtypes.Name(Dtype)} [{string.Join(", ", Shape)}]";
}

/// <summary>A malformed or unreadable safetensors file (or shard index).</summary>
public sealed class SafetensorsException : HpsException
{
    public SafetensorsException(string path, string reason, Exception? inner = null)
        : base($"{path}: {reason}", inner)
    {
        FilePath = path;
        Reason = reason;
    }

    /// <summary>The file that is wrong.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
