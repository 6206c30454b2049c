using System.Buffers.Binary;
using System.Collections;
using System.Text;
using Razorvine.Pickle;

namespace HpsSharp.Server.Protocols;

/// <summary>A pickle that the restricted reader refused; <see cref="Exception.Message"/> names the opcode and offset.</summary>
public sealed class PickleRefusedException(string message) : Exception(message);

/// <summary>
/// Reads pickles made only of dict, list, tuple, str, bytes, int, float, bool and None. The whole opcode stream is
/// scanned first: any opcode that could name a class, call a function or build an object (GLOBAL, STACK_GLOBAL,
/// REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID, BINPERSID, buffers, sets, bytearray) makes the
/// whole pickle refused before a single object exists. Only then does Razorvine.Pickle build the value, so its
/// class-constructing paths are unreachable.
/// </summary>
public static class RestrictedPickle
{
    private const string Allowed = "only dict, list, tuple, str, bytes, int, float, bool and None are accepted";

    /// <summary>
    /// Most opcodes in one pickle. The body limit bounds bytes, but a body of tiny opcodes (millions of empty
    /// lists) would build objects tens of times its size; a reward request needs a few per image.
    /// </summary>
    public const int MaxOpcodes = 1_000_000;

    /// <summary>Scans, then unpickles. Throws <see cref="PickleRefusedException"/> for anything outside the allowed set.</summary>
    public static object? Loads(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Scan(data);
        try
        {
            using var unpickler = new Unpickler();
            return unpickler.loads(data);
        }
        catch (Exception ex) when (ex is PickleException or InvalidOperationException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException or InvalidCastException or IOException)
        {
            throw new PickleRefusedException($"malformed pickle: {ex.Message}");
        }
    }

    /// <summary>
    /// Walks every opcode with its argument (lengths checked against the buffer) and throws at the first one that
    /// is not on the allowed list or at a stream that does not end with STOP.
    /// </summary>
    public static void Scan(ReadOnlySpan<byte> data)
    {
        int pos = 0, count = 0;
        string? lastString = null, previousString = null;
        while (pos < data.Length)
        {
            int at = pos;
            if (++count > MaxOpcodes)
            {
                throw new PickleRefusedException($"the pickle has more than {MaxOpcodes} opcodes");
            }

            byte op = data[pos++];
            switch (op)
            {
                case (byte)'.': // STOP
                    if (pos != data.Length)
                    {
                        throw new PickleRefusedException($"{data.Length - pos} bytes follow the pickle's STOP opcode at byte {at}");
                    }

                    return;
                case (byte)'(': case (byte)'0': case (byte)'1': case (byte)'2': // MARK POP POP_MARK DUP
                case (byte)'N': case (byte)'a': case (byte)'d': case (byte)'}': case (byte)'e': // NONE APPEND DICT EMPTY_DICT APPENDS
                case (byte)'l': case (byte)']': case (byte)'s': case (byte)'t': case (byte)')': case (byte)'u': // LIST EMPTY_LIST SETITEM TUPLE EMPTY_TUPLE SETITEMS
                case 0x85: case 0x86: case 0x87: case 0x88: case 0x89: case 0x94: // TUPLE1-3 NEWTRUE NEWFALSE MEMOIZE
                    break;
                case (byte)'F': case (byte)'I': case (byte)'L': case (byte)'g': case (byte)'p': // FLOAT INT LONG GET PUT (text line)
                    ReadLine(data, ref pos, at);
                    break;
                case (byte)'S': case (byte)'V': // STRING UNICODE (text line)
                    Shift(ref previousString, ref lastString, ReadLine(data, ref pos, at));
                    break;
                case (byte)'J': case (byte)'j': case (byte)'r': // BININT LONG_BINGET LONG_BINPUT
                    Skip(data, ref pos, 4, at);
                    break;
                case (byte)'K': case (byte)'h': case (byte)'q': case 0x80: // BININT1 BINGET BINPUT PROTO
                    Skip(data, ref pos, 1, at);
                    break;
                case (byte)'M': // BININT2
                    Skip(data, ref pos, 2, at);
                    break;
                case (byte)'G': // BINFLOAT
                    Skip(data, ref pos, 8, at);
                    break;
                case 0x95: // FRAME: an 8-byte length of what follows; the opcodes inside are scanned like the rest
                    Skip(data, ref pos, 8, at);
                    break;
                case 0x8a: // LONG1
                    Skip(data, ref pos, Length(data, ref pos, 1, at), at);
                    break;
                case 0x8b: // LONG4
                    Skip(data, ref pos, Length(data, ref pos, 4, at), at);
                    break;
                case (byte)'T': case (byte)'X': case (byte)'B': // BINSTRING BINUNICODE BINBYTES
                    Shift(ref previousString, ref lastString, Text(data, ref pos, Length(data, ref pos, 4, at), at, op == (byte)'X'));
                    break;
                case (byte)'U': case (byte)'C': case 0x8c: // SHORT_BINSTRING SHORT_BINBYTES SHORT_BINUNICODE
                    Shift(ref previousString, ref lastString, Text(data, ref pos, Length(data, ref pos, 1, at), at, op == 0x8c));
                    break;
                case 0x8d: case 0x8e: // BINUNICODE8 BINBYTES8
                    Shift(ref previousString, ref lastString, Text(data, ref pos, Length(data, ref pos, 8, at), at, op == 0x8d));
                    break;
                case (byte)'c': case (byte)'i': // GLOBAL INST: "module\nname\n"
                {
                    string module = ReadLine(data, ref pos, at), name = ReadLine(data, ref pos, at);
                    throw Refused(op, at, $"{module}.{name}");
                }

                case 0x93: // STACK_GLOBAL: module and name are the two strings pushed before it
                    throw Refused(op, at, previousString is null || lastString is null ? null : $"{previousString}.{lastString}");
                default:
                    throw Refused(op, at, null);
            }
        }

        throw new PickleRefusedException("the pickle ends without a STOP opcode");
    }

    private static PickleRefusedException Refused(byte op, int at, string? target)
    {
        string name = op switch
        {
            (byte)'c' => "GLOBAL", (byte)'i' => "INST", 0x93 => "STACK_GLOBAL", (byte)'R' => "REDUCE", (byte)'b' => "BUILD",
            (byte)'o' => "OBJ", 0x81 => "NEWOBJ", 0x92 => "NEWOBJ_EX", 0x82 => "EXT1", 0x83 => "EXT2", 0x84 => "EXT4",
            (byte)'P' => "PERSID", (byte)'Q' => "BINPERSID", 0x8f => "EMPTY_SET", 0x90 => "ADDITEMS", 0x91 => "FROZENSET",
            0x96 => "BYTEARRAY8", 0x97 => "NEXT_BUFFER", 0x98 => "READONLY_BUFFER",
            _ => $"0x{op:x2}",
        };
        string what = target is null ? string.Empty : $" ({target})";
        return new PickleRefusedException($"pickle opcode {name}{what} at byte {at} is refused: {Allowed}");
    }

    private static void Shift(ref string? previous, ref string? last, string current)
    {
        previous = last;
        last = current;
    }

    private static long Length(ReadOnlySpan<byte> data, ref int pos, int size, int at)
    {
        if (data.Length - pos < size)
        {
            throw Truncated(at);
        }

        long n = size switch
        {
            1 => data[pos],
            4 => BinaryPrimitives.ReadInt32LittleEndian(data[pos..]),
            _ => BinaryPrimitives.ReadInt64LittleEndian(data[pos..]),
        };
        pos += size;
        return n < 0 ? throw new PickleRefusedException($"negative length at byte {at}") : n;
    }

    private static void Skip(ReadOnlySpan<byte> data, ref int pos, long n, int at)
    {
        if (n > data.Length - pos)
        {
            throw Truncated(at);
        }

        pos += (int)n;
    }

    private static string Text(ReadOnlySpan<byte> data, ref int pos, long n, int at, bool utf8)
    {
        if (n > data.Length - pos)
        {
            throw Truncated(at);
        }

        // Only short strings are kept (for naming a STACK_GLOBAL target); bytes payloads are skipped unread.
        string s = utf8 && n <= 256 ? Encoding.UTF8.GetString(data.Slice(pos, (int)n)) : string.Empty;
        pos += (int)n;
        return s;
    }

    private static string ReadLine(ReadOnlySpan<byte> data, ref int pos, int at)
    {
        int nl = data[pos..].IndexOf((byte)'\n');
        if (nl < 0)
        {
            throw Truncated(at);
        }

        string s = Encoding.Latin1.GetString(data.Slice(pos, Math.Min(nl, 256)));
        pos += nl + 1;
        return s;
    }

    private static PickleRefusedException Truncated(int at) => new($"the pickle is truncated (opcode at byte {at} runs past the end)");

    /// <summary>Pickles a result made of dictionaries, lists, strings, numbers, booleans and null (protocol 2).</summary>
    public static byte[] Dumps(object? value)
    {
        using var pickler = new Pickler(useMemo: false);
        return pickler.dumps(value);
    }

    /// <summary>The value of <paramref name="key"/> in an unpickled dict, or null when absent.</summary>
    public static object? Get(object? dict, string key) => dict is IDictionary d && d.Contains(key) ? d[key] : null;
}
