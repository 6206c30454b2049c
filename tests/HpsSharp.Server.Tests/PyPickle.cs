using System.Buffers.Binary;
using System.Collections;
using System.Text;

namespace HpsSharp.Server.Tests;

/// <summary>
/// Writes pickles the way CPython 3's pickle does for plain data (protocol 3 opcodes: EMPTY_DICT/SETITEMS,
/// EMPTY_LIST/APPENDS, BINUNICODE, BINBYTES, BININT, BINFLOAT, NONE, NEWTRUE/NEWFALSE). Razorvine's Pickler writes
/// bytes as a bytearray GLOBAL, which the restricted reader rightly refuses, so tests build their own bodies here.
/// </summary>
internal static class PyPickle
{
    public static byte[] Dumps(object? value)
    {
        var ms = new MemoryStream();
        ms.Write([0x80, 0x03]);
        Write(ms, value);
        ms.WriteByte((byte)'.');
        return ms.ToArray();
    }

    private static void Write(MemoryStream ms, object? v)
    {
        Span<byte> b = stackalloc byte[8];
        switch (v)
        {
            case null:
                ms.WriteByte((byte)'N');
                break;
            case bool t:
                ms.WriteByte(t ? (byte)0x88 : (byte)0x89);
                break;
            case int i:
                ms.WriteByte((byte)'J');
                BinaryPrimitives.WriteInt32LittleEndian(b, i);
                ms.Write(b[..4]);
                break;
            case double d:
                ms.WriteByte((byte)'G');
                BinaryPrimitives.WriteDoubleBigEndian(b, d);
                ms.Write(b);
                break;
            case string s:
                var u = Encoding.UTF8.GetBytes(s);
                ms.WriteByte((byte)'X');
                BinaryPrimitives.WriteInt32LittleEndian(b, u.Length);
                ms.Write(b[..4]);
                ms.Write(u);
                break;
            case byte[] bytes:
                ms.WriteByte((byte)'B');
                BinaryPrimitives.WriteInt32LittleEndian(b, bytes.Length);
                ms.Write(b[..4]);
                ms.Write(bytes);
                break;
            case IDictionary dict:
                ms.WriteByte((byte)'}');
                ms.WriteByte((byte)'(');
                foreach (DictionaryEntry e in dict)
                {
                    Write(ms, e.Key);
                    Write(ms, e.Value);
                }

                ms.WriteByte((byte)'u');
                break;
            case IList list:
                ms.WriteByte((byte)']');
                ms.WriteByte((byte)'(');
                foreach (var x in list)
                {
                    Write(ms, x);
                }

                ms.WriteByte((byte)'e');
                break;
            default:
                throw new ArgumentException($"cannot pickle {v.GetType()}");
        }
    }
}
