namespace HpsSharp.Core.Checkpoints;

/// <summary>The element types a <c>torch.*Storage</c> class names in a pickled checkpoint.</summary>
public enum TorchDtype
{
    Float32,
    Float64,
    Float16,
    BFloat16,
    Int64,
    Int32,
    Int16,
    Int8,
    UInt8,
    Bool,
}

/// <summary>Sizes and the storage class names that map to each dtype.</summary>
public static class TorchDtypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(TorchDtype dtype) => dtype switch
    {
        TorchDtype.Float64 or TorchDtype.Int64 => 8,
        TorchDtype.Float32 or TorchDtype.Int32 => 4,
        TorchDtype.Float16 or TorchDtype.BFloat16 or TorchDtype.Int16 => 2,
        _ => 1,
    };

    /// <summary>The legacy typed-storage classes (<c>torch.FloatStorage</c> …) that <c>torch.save</c> still writes.</summary>
    public static readonly IReadOnlyDictionary<string, TorchDtype> StorageClasses = new Dictionary<string, TorchDtype>(StringComparer.Ordinal)
    {
        ["FloatStorage"] = TorchDtype.Float32,
        ["DoubleStorage"] = TorchDtype.Float64,
        ["HalfStorage"] = TorchDtype.Float16,
        ["BFloat16Storage"] = TorchDtype.BFloat16,
        ["LongStorage"] = TorchDtype.Int64,
        ["IntStorage"] = TorchDtype.Int32,
        ["ShortStorage"] = TorchDtype.Int16,
        ["CharStorage"] = TorchDtype.Int8,
        ["ByteStorage"] = TorchDtype.UInt8,
        ["BoolStorage"] = TorchDtype.Bool,
    };

    /// <summary>The <c>torch.float32</c>-style names that accompany an <c>UntypedStorage</c> (torch ≥ 2 with <c>_use_new_zipfile_serialization</c> and dtype globals).</summary>
    public static readonly IReadOnlyDictionary<string, TorchDtype> DtypeNames = new Dictionary<string, TorchDtype>(StringComparer.Ordinal)
    {
        ["float32"] = TorchDtype.Float32,
        ["float"] = TorchDtype.Float32,
        ["float64"] = TorchDtype.Float64,
        ["double"] = TorchDtype.Float64,
        ["float16"] = TorchDtype.Float16,
        ["half"] = TorchDtype.Float16,
        ["bfloat16"] = TorchDtype.BFloat16,
        ["int64"] = TorchDtype.Int64,
        ["long"] = TorchDtype.Int64,
        ["int32"] = TorchDtype.Int32,
        ["int"] = TorchDtype.Int32,
        ["int16"] = TorchDtype.Int16,
        ["int8"] = TorchDtype.Int8,
        ["uint8"] = TorchDtype.UInt8,
        ["bool"] = TorchDtype.Bool,
    };
}
