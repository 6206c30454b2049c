using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace HpsSharp.Core.Checkpoints;

/// <summary>
/// What a restricted pickle reader accepts. The opcodes that can run code or build arbitrary objects fall in the
/// groups below; each group is refused unless the policy allows it. <c>INST</c>, text <c>PERSID</c> and the
/// extension registry (<c>EXT1/2/4</c>) are refused by every policy: their targets cannot be checked statically.
/// </summary>
public sealed record PicklePolicy
{
    /// <summary>What the policy accepts, in words, ending every refusal message (e.g. "only dict, list, … are accepted").</summary>
    public required string Accepts { get; init; }

    /// <summary>
    /// The globals (module, name) that <c>GLOBAL</c> and <c>STACK_GLOBAL</c> may name; null refuses both opcodes.
    /// A <c>STACK_GLOBAL</c> whose two strings are not plain literal pushes is refused either way.
    /// </summary>
    public Func<string, string, bool>? AllowGlobal { get; init; }

    /// <summary>Accept <c>REDUCE</c>, <c>BUILD</c>, <c>OBJ</c>, <c>NEWOBJ</c>, <c>NEWOBJ_EX</c> and <c>BINPERSID</c> (they act only on allowed globals).</summary>
    public bool AllowObjectConstruction { get; init; }

    /// <summary>Accept <c>EMPTY_SET</c>, <c>ADDITEMS</c>, <c>FROZENSET</c>, <c>BYTEARRAY8</c>, <c>NEXT_BUFFER</c>, <c>READONLY_BUFFER</c>.</summary>
    public bool AllowSetsAndBuffers { get; init; }

    /// <summary>Most opcodes in one pickle (a body of tiny opcodes builds objects tens of times its size).</summary>
    public int MaxOpcodes { get; init; } = int.MaxValue;

    /// <summary>Refuse bytes after <c>STOP</c> (a stream that must be exactly one pickle) instead of ignoring them.</summary>
    public bool RefuseTrailingBytes { get; init; }
}

/// <summary>A pickle that a <see cref="PicklePolicy"/> refuses; the message names the opcode, its target and offset.</summary>
public sealed class PickleScanException : HpsException
{
    /// <summary>Creates the exception with its one-line reason.</summary>
    public PickleScanException(string message, long offset)
        : base(message)
    {
        Offset = offset;
    }

    /// <summary>Byte offset of the refused opcode (or of the end of the stream).</summary>
    public long Offset { get; }
}

/// <summary>
/// Walks a pickle's opcodes with their arguments (every length checked against the buffer) without executing any,
/// and refuses the stream at the first opcode its <see cref="PicklePolicy"/> does not accept. It runs before an
/// unpickler sees a byte, so a refused object is never built — the defence <c>torch.load(weights_only=True)</c>
/// gives in Python. One scanner for the torch checkpoint reader (an allow-list of tensor globals) and the service's
/// pickle protocol (plain data only, bounded opcode count, nothing after STOP).
/// </summary>
public static class PickleScanner
{
    /// <summary>Longest string kept for naming a <c>STACK_GLOBAL</c> target; longer ones count as computed.</summary>
    private const int MaxNameLength = 256;

    /// <summary>Throws <see cref="PickleScanException"/> at the first opcode <paramref name="policy"/> refuses.</summary>
    public static void Check(ReadOnlySpan<byte> pickle, PicklePolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var memo = new Dictionary<long, string>();
        string? last = null, beforeLast = null; // the two most recent string pushes, for STACK_GLOBAL
        long nextMemo = 0;
        int pos = 0, count = 0;
        while (true)
        {
            if (pos >= pickle.Length)
            {
                throw new PickleScanException("the pickle ends without a STOP opcode (truncated)", pos);
            }

            if (++count > policy.MaxOpcodes)
            {
                throw new PickleScanException($"the pickle has more than {policy.MaxOpcodes} opcodes", pos);
            }

            int at = pos;
            byte op = pickle[pos++];
            string? pushed = null;
            switch (op)
            {
                case (byte)'.': // STOP
                    if (policy.RefuseTrailingBytes && pos != pickle.Length)
                    {
                        throw new PickleScanException($"{pickle.Length - pos} bytes follow the pickle's STOP opcode at byte {at}", at);
                    }

                    return;
                case (byte)'(' or (byte)'0' or (byte)'1' or (byte)'2' or (byte)'N' or (byte)'a' or (byte)'d' or (byte)'}' or (byte)'e'
                    or (byte)'l' or (byte)']' or (byte)'s' or (byte)'t' or (byte)')' or (byte)'u' or 0x85 or 0x86 or 0x87 or 0x88 or 0x89:
                    break; // MARK POP POP_MARK DUP NONE APPEND DICT EMPTY_DICT APPENDS LIST EMPTY_LIST SETITEM TUPLE EMPTY_TUPLE SETITEMS TUPLE1-3 NEWTRUE NEWFALSE
                case (byte)'R' or (byte)'b' or (byte)'o' or 0x81 or 0x92 or (byte)'Q':
                    if (!policy.AllowObjectConstruction)
                    {
                        throw Refused(op, at, null, policy.Accepts);
                    }

                    break;
                case 0x8f or 0x90 or 0x91 or 0x97 or 0x98:
                    if (!policy.AllowSetsAndBuffers)
                    {
                        throw Refused(op, at, null, policy.Accepts);
                    }

                    break;
                case 0x96: // BYTEARRAY8
                    if (!policy.AllowSetsAndBuffers)
                    {
                        throw Refused(op, at, null, policy.Accepts);
                    }

                    Skip(pickle, ref pos, Length(pickle, ref pos, 8, at), at);
                    break;
                case 0x94: // MEMOIZE
                    if (last is not null)
                    {
                        memo[nextMemo] = last;
                    }

                    nextMemo++;
                    pushed = last;
                    break;
                case (byte)'F' or (byte)'I' or (byte)'L' or (byte)'S': // FLOAT INT LONG STRING (text line)
                    ReadLine(pickle, ref pos, at);
                    break;
                case (byte)'V': // UNICODE (raw-unicode-escape text; only ASCII names matter for STACK_GLOBAL)
                    pushed = Name(ReadLine(pickle, ref pos, at));
                    break;
                case (byte)'g': // GET
                    pushed = memo.GetValueOrDefault(MemoIndex(ReadLine(pickle, ref pos, at), at));
                    break;
                case (byte)'p': // PUT
                    Remember(memo, MemoIndex(ReadLine(pickle, ref pos, at), at), last);
                    pushed = last;
                    break;
                case (byte)'c': // GLOBAL module\nname\n
                {
                    string module = ReadLine(pickle, ref pos, at), name = ReadLine(pickle, ref pos, at);
                    RequireGlobal(policy, op, module, name, at);
                    break;
                }

                case 0x93: // STACK_GLOBAL: module and name are the two strings pushed just before it
                    if (beforeLast is null || last is null)
                    {
                        throw Refused(op, at, null, policy.AllowGlobal is null
                            ? policy.Accepts
                            : "it takes its names from computed values, which a restricted reader cannot check");
                    }

                    RequireGlobal(policy, op, beforeLast, last, at);
                    break;
                case (byte)'J': // BININT
                    Skip(pickle, ref pos, 4, at);
                    break;
                case (byte)'K' or 0x80: // BININT1 PROTO
                    Skip(pickle, ref pos, 1, at);
                    break;
                case (byte)'M': // BININT2
                    Skip(pickle, ref pos, 2, at);
                    break;
                case (byte)'G' or 0x95: // BINFLOAT; FRAME (its length only: the opcodes inside are scanned like the rest)
                    Skip(pickle, ref pos, 8, at);
                    break;
                case (byte)'h': // BINGET
                    pushed = memo.GetValueOrDefault(Length(pickle, ref pos, 1, at));
                    break;
                case (byte)'j': // LONG_BINGET
                    pushed = memo.GetValueOrDefault(Length(pickle, ref pos, 4, at));
                    break;
                case (byte)'q': // BINPUT
                    Remember(memo, Length(pickle, ref pos, 1, at), last);
                    pushed = last;
                    break;
                case (byte)'r': // LONG_BINPUT
                    Remember(memo, Length(pickle, ref pos, 4, at), last);
                    pushed = last;
                    break;
                case (byte)'X' or (byte)'T': // BINUNICODE BINSTRING
                    pushed = Text(pickle, ref pos, Length(pickle, ref pos, 4, at), at);
                    break;
                case 0x8c or (byte)'U': // SHORT_BINUNICODE SHORT_BINSTRING
                    pushed = Text(pickle, ref pos, Length(pickle, ref pos, 1, at), at);
                    break;
                case 0x8d: // BINUNICODE8
                    pushed = Text(pickle, ref pos, Length(pickle, ref pos, 8, at), at);
                    break;
                case (byte)'B' or 0x8b: // BINBYTES LONG4
                    Skip(pickle, ref pos, Length(pickle, ref pos, 4, at), at);
                    break;
                case (byte)'C' or 0x8a: // SHORT_BINBYTES LONG1
                    Skip(pickle, ref pos, Length(pickle, ref pos, 1, at), at);
                    break;
                case 0x8e: // BINBYTES8
                    Skip(pickle, ref pos, Length(pickle, ref pos, 8, at), at);
                    break;
                case (byte)'i': // INST module\nname\n: builds an arbitrary class instance
                {
                    string module = ReadLine(pickle, ref pos, at), name = ReadLine(pickle, ref pos, at);
                    throw Refused(op, at, $"{module}.{name}", policy.Accepts);
                }

                case (byte)'P' or 0x82 or 0x83 or 0x84: // PERSID (torch.save writes BINPERSID), EXT1/2/4 (copyreg registry)
                    throw Refused(op, at, null, policy.Accepts);
                default:
                    throw new PickleScanException($"unknown pickle opcode 0x{op:x2} at byte {at}: not a pickle this reader understands", at);
            }

            // Only literal string pushes (and memo reads of them) feed STACK_GLOBAL; every other opcode clears them.
            if (op is (byte)'q' or (byte)'r' or (byte)'p' or 0x94)
            {
                continue; // memo stores leave the stack as it was
            }

            beforeLast = pushed is null ? null : last;
            last = pushed;
        }
    }

    /// <summary>The pickletools name of an opcode, for messages.</summary>
    public static string OpcodeName(byte op) => op switch
    {
        (byte)'c' => "GLOBAL", (byte)'i' => "INST", 0x93 => "STACK_GLOBAL", (byte)'R' => "REDUCE", (byte)'b' => "BUILD",
        (byte)'o' => "OBJ", 0x81 => "NEWOBJ", 0x92 => "NEWOBJ_EX", 0x82 => "EXT1", 0x83 => "EXT2", 0x84 => "EXT4",
        (byte)'P' => "PERSID", (byte)'Q' => "BINPERSID", 0x8f => "EMPTY_SET", 0x90 => "ADDITEMS", 0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8", 0x97 => "NEXT_BUFFER", 0x98 => "READONLY_BUFFER",
        _ => $"0x{op:x2}",
    };

    private static void RequireGlobal(PicklePolicy policy, byte op, string module, string name, int at)
    {
        if (policy.AllowGlobal is null)
        {
            throw Refused(op, at, $"{module}.{name}", policy.Accepts);
        }

        if (!policy.AllowGlobal(module, name))
        {
            throw Refused(op, at, $"{module}.{name}", $"the global '{module}.{name}' is not on the allow-list ({policy.Accepts}); nothing was loaded");
        }
    }

    private static PickleScanException Refused(byte op, int at, string? target, string reason) =>
        new($"pickle opcode {OpcodeName(op)}{(target is null ? string.Empty : $" ({target})")} at byte {at} is refused: {reason}", at);

    private static string? Name(string s) => s.Length <= MaxNameLength ? s : null;

    private static long MemoIndex(string line, int at) =>
        long.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index)
            ? index
            : throw new PickleScanException($"malformed memo index '{(line.Length > 32 ? line[..32] + "…" : line)}' at byte {at}", at);

    private static void Remember(Dictionary<long, string> memo, long index, string? value)
    {
        if (value is null)
        {
            memo.Remove(index);
        }
        else
        {
            memo[index] = value;
        }
    }

    private static string ReadLine(ReadOnlySpan<byte> p, ref int pos, int at)
    {
        int end = p[pos..].IndexOf((byte)'\n');
        if (end < 0)
        {
            throw Truncated(at);
        }

        // Names longer than any module path are cut: they can only be refused, and the message stays one line.
        var s = Encoding.UTF8.GetString(p.Slice(pos, Math.Min(end, 4 * MaxNameLength)));
        pos += end + 1;
        return s;
    }

    /// <summary>A length or index argument of <paramref name="size"/> bytes (little-endian; negative refused).</summary>
    private static long Length(ReadOnlySpan<byte> p, ref int pos, int size, int at)
    {
        if (p.Length - pos < size)
        {
            throw Truncated(at);
        }

        long n = size switch
        {
            1 => p[pos],
            4 => BinaryPrimitives.ReadUInt32LittleEndian(p[pos..]),
            _ => BinaryPrimitives.ReadInt64LittleEndian(p[pos..]),
        };
        pos += size;
        return n < 0 ? throw new PickleScanException($"negative length at byte {at}", at) : n;
    }

    private static void Skip(ReadOnlySpan<byte> p, ref int pos, long n, int at)
    {
        if (n > p.Length - pos)
        {
            throw Truncated(at);
        }

        pos += (int)n;
    }

    /// <summary>A string argument: kept when short enough to name a global (as UTF-8), skipped unread otherwise.</summary>
    private static string? Text(ReadOnlySpan<byte> p, ref int pos, long n, int at)
    {
        if (n > p.Length - pos)
        {
            throw Truncated(at);
        }

        string? s = n <= MaxNameLength ? Encoding.UTF8.GetString(p.Slice(pos, (int)n)) : null;
        pos += (int)n;
        return s;
    }

    private static PickleScanException Truncated(int at) => new($"the pickle is truncated (the opcode at byte {at} runs past the end)", at);
}
