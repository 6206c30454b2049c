namespace HpsSharp.Core.Safetensors;

/// <summary>Element types of the safetensors format (names as written in the JSON header).</summary>
public enum SafetensorsDtype
{
    BOOL,
    U8,
    I8,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

/// <summary>Sizes, names and conversions of <see cref="SafetensorsDtype"/>.</summary>
public static class SafetensorsDtypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.BOOL or SafetensorsDtype.U8 or SafetensorsDtype.I8 => 1,
        SafetensorsDtype.I16 or SafetensorsDtype.U16 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => 2,
        SafetensorsDtype.I32 or SafetensorsDtype.U32 or SafetensorsDtype.F32 => 4,
        SafetensorsDtype.F64 or SafetensorsDtype.I64 or SafetensorsDtype.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown safetensors dtype"),
    };

    /// <summary>The header name of a dtype ("BF16", "F32", ...).</summary>
    public static string Name(SafetensorsDtype dtype) => dtype.ToString();

    /// <summary>Parses a header dtype name; returns false for names the format does not define.</summary>
    public static bool TryParse(string? name, out SafetensorsDtype dtype)
    {
        dtype = default;
        return name is not null && name.Length > 0 && !char.IsDigit(name[0])
            && Enum.TryParse(name, ignoreCase: false, out dtype) && Enum.IsDefined(dtype);
    }

    /// <summary>True for F16, BF16, F32, F64.</summary>
    public static bool IsFloat(SafetensorsDtype dtype) =>
        dtype is SafetensorsDtype.F16 or SafetensorsDtype.BF16 or SafetensorsDtype.F32 or SafetensorsDtype.F64;

    /// <summary>float → bfloat16 bits, round to nearest even (as torch does); NaN stays a quiet NaN.</summary>
    public static ushort FloatToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>bfloat16 bits → float (exact).</summary>
    public static float BFloat16ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
