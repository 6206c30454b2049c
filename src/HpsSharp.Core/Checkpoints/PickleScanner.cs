using System.Buffers.Binary;
using System.Text;

namespace HpsSharp.Core.Checkpoints;

/// <summary>
/// Walks a pickle's opcodes without executing any of them and refuses the stream when it names a global outside the
/// allow-list, or uses an opcode whose target cannot be checked statically (<c>INST</c>, text <c>PERSID</c>, the
/// extension registry, a <c>STACK_GLOBAL</c> whose two strings are not plain literals). This runs before the
/// unpickler sees a byte, so a refused object is never built — the defence that <c>torch.load(weights_only=True)</c>
/// gives in Python.
/// </summary>
internal static class PickleScanner
{
    /// <summary>Throws <see cref="TorchCheckpointException"/> naming the first refused global or opcode.</summary>
    public static void Check(ReadOnlySpan<byte> pickle, Func<string, string, bool> allowed, string path)
    {
        var memo = new Dictionary<long, string>();
        string? last = null, beforeLast = null; // the two most recent string pushes, for STACK_GLOBAL
        long nextMemo = 0;
        int pos = 0;
        while (true)
        {
            if (pos >= pickle.Length)
            {
                throw new TorchCheckpointException(path, "data.pkl ends without a STOP opcode (truncated pickle)");
            }

            int at = pos;
            byte op = pickle[pos++];
            string? pushed = null;
            switch (op)
            {
                case (byte)'.': // STOP
                    return;
                case (byte)'(' or (byte)'0' or (byte)'1' or (byte)'2' or (byte)'N' or (byte)'R' or (byte)'a' or (byte)'b' or (byte)'d'
                    or (byte)'}' or (byte)'e' or (byte)'l' or (byte)']' or (byte)'o' or (byte)'s' or (byte)'t' or (byte)')' or (byte)'u'
                    or 0x81 or 0x85 or 0x86 or 0x87 or 0x88 or 0x89 or (byte)'Q' or 0x8f or 0x90 or 0x91 or 0x92 or 0x97 or 0x98:
                    break;
                case 0x94: // MEMOIZE
                    if (last is not null)
                    {
                        memo[nextMemo] = last;
                    }

                    nextMemo++;
                    pushed = last;
                    break;
                case (byte)'F' or (byte)'I' or (byte)'L' or (byte)'S':
                    ReadLine(pickle, ref pos, path);
                    break;
                case (byte)'V': // UNICODE (raw-unicode-escape text; only ASCII names matter for STACK_GLOBAL)
                    pushed = ReadLine(pickle, ref pos, path);
                    break;
                case (byte)'g': // GET
                    pushed = memo.GetValueOrDefault(long.Parse(ReadLine(pickle, ref pos, path), System.Globalization.CultureInfo.InvariantCulture));
                    break;
                case (byte)'p': // PUT
                    Remember(memo, long.Parse(ReadLine(pickle, ref pos, path), System.Globalization.CultureInfo.InvariantCulture), last);
                    pushed = last;
                    break;
                case (byte)'c': // GLOBAL module\nname\n
                {
                    var module = ReadLine(pickle, ref pos, path);
                    var name = ReadLine(pickle, ref pos, path);
                    Require(allowed, module, name, path, at);
                    break;
                }

                case 0x93: // STACK_GLOBAL
                    if (beforeLast is null || last is null)
                    {
                        throw new TorchCheckpointException(path, $"refused: STACK_GLOBAL at byte {at} takes its names from computed values, which a restricted reader cannot check");
                    }

                    Require(allowed, beforeLast, last, path, at);
                    break;
                case (byte)'J':
                    pos += 4;
                    break;
                case (byte)'K' or 0x80:
                    pos += 1;
                    break;
                case (byte)'M':
                    pos += 2;
                    break;
                case (byte)'G' or 0x95:
                    pos += 8;
                    break;
                case (byte)'h': // BINGET
                    pushed = memo.GetValueOrDefault(Byte(pickle, pos, path));
                    pos += 1;
                    break;
                case (byte)'j': // LONG_BINGET
                    pushed = memo.GetValueOrDefault(U32(pickle, pos, path));
                    pos += 4;
                    break;
                case (byte)'q': // BINPUT
                    Remember(memo, Byte(pickle, pos, path), last);
                    pos += 1;
                    pushed = last;
                    break;
                case (byte)'r': // LONG_BINPUT
                    Remember(memo, U32(pickle, pos, path), last);
                    pos += 4;
                    pushed = last;
                    break;
                case (byte)'X': // BINUNICODE
                    pushed = Utf8(pickle, ref pos, U32(pickle, pos, path), 4, path);
                    break;
                case 0x8c: // SHORT_BINUNICODE
                    pushed = Utf8(pickle, ref pos, Byte(pickle, pos, path), 1, path);
                    break;
                case 0x8d: // BINUNICODE8
                    pushed = Utf8(pickle, ref pos, U64(pickle, pos, path), 8, path);
                    break;
                case (byte)'T' or (byte)'B' or 0x8b:
                    Skip(pickle, ref pos, U32(pickle, pos, path), 4, path);
                    break;
                case (byte)'U' or (byte)'C' or 0x8a:
                    Skip(pickle, ref pos, Byte(pickle, pos, path), 1, path);
                    break;
                case 0x8e or 0x96:
                    Skip(pickle, ref pos, U64(pickle, pos, path), 8, path);
                    break;
                case (byte)'i':
                    throw new TorchCheckpointException(path, $"refused: INST opcode at byte {at} (builds an arbitrary class instance)");
                case (byte)'P':
                    throw new TorchCheckpointException(path, $"refused: text PERSID opcode at byte {at} (torch.save writes BINPERSID)");
                case 0x82 or 0x83 or 0x84:
                    throw new TorchCheckpointException(path, $"refused: EXT opcode at byte {at} (copyreg extension registry)");
                default:
                    throw new TorchCheckpointException(path, $"unknown pickle opcode 0x{op:x2} at byte {at}: not a pickle this reader understands");
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

    private static void Require(Func<string, string, bool> allowed, string module, string name, string path, int at)
    {
        if (!allowed(module, name))
        {
            throw new TorchCheckpointException(path, $"refused: the pickle names the global '{module}.{name}' (byte {at}), which is not on the allow-list of tensor-only checkpoints (collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter, torch.*Storage); nothing was loaded");
        }
    }

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

    private static string ReadLine(ReadOnlySpan<byte> p, ref int pos, string path)
    {
        int end = p[pos..].IndexOf((byte)'\n');
        if (end < 0)
        {
            throw new TorchCheckpointException(path, "truncated pickle (a text argument has no line end)");
        }

        var s = Encoding.UTF8.GetString(p.Slice(pos, end));
        pos += end + 1;
        return s;
    }

    private static long Byte(ReadOnlySpan<byte> p, int pos, string path) => pos < p.Length ? p[pos] : throw Truncated(path);

    private static long U32(ReadOnlySpan<byte> p, int pos, string path) =>
        pos + 4 <= p.Length ? BinaryPrimitives.ReadUInt32LittleEndian(p[pos..]) : throw Truncated(path);

    private static long U64(ReadOnlySpan<byte> p, int pos, string path)
    {
        if (pos + 8 > p.Length)
        {
            throw Truncated(path);
        }

        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(p[pos..]);
        return v > int.MaxValue ? throw Truncated(path) : (long)v;
    }

    private static string Utf8(ReadOnlySpan<byte> p, ref int pos, long length, int prefix, string path)
    {
        int start = pos + prefix;
        if (length < 0 || start + length > p.Length)
        {
            throw Truncated(path);
        }

        pos = start + (int)length;
        return Encoding.UTF8.GetString(p.Slice(start, (int)length));
    }

    private static void Skip(ReadOnlySpan<byte> p, ref int pos, long length, int prefix, string path)
    {
        if (length < 0 || pos + prefix + length > p.Length)
        {
            throw Truncated(path);
        }

        pos += prefix + (int)length;
    }

    private static TorchCheckpointException Truncated(string path) => new(path, "truncated pickle (an argument runs past the end of data.pkl)");
}
