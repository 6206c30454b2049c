using System.Collections;
using HpsSharp.Core.Checkpoints;
using Razorvine.Pickle;

namespace HpsSharp.Server.Protocols;

/// <summary>A pickle that the restricted reader refused; <see cref="Exception.Message"/> names the opcode and offset.</summary>
public sealed class PickleRefusedException(string message) : Exception(message);

/// <summary>
/// Reads pickles made only of dict, list, tuple, str, bytes, int, float, bool and None. The whole opcode stream is
/// scanned first (Core's <see cref="PickleScanner"/>, with the strictest policy): any opcode that could name a class, call a function or build an object (GLOBAL, STACK_GLOBAL,
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

    /// <summary>Plain data only: no global, no object construction, no sets or buffers; one pickle and nothing after it.</summary>
    private static readonly PicklePolicy Policy = new()
    {
        Accepts = Allowed,
        AllowGlobal = null,
        AllowObjectConstruction = false,
        AllowSetsAndBuffers = false,
        MaxOpcodes = MaxOpcodes,
        RefuseTrailingBytes = true,
    };

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
    /// Scans every opcode with its argument (lengths checked against the buffer) under the plain-data policy and
    /// throws at the first one that is not allowed, at more than <see cref="MaxOpcodes"/> opcodes, at a stream that
    /// does not end with STOP and at bytes after it.
    /// </summary>
    public static void Scan(ReadOnlySpan<byte> data)
    {
        try
        {
            PickleScanner.Check(data, Policy);
        }
        catch (PickleScanException ex)
        {
            throw new PickleRefusedException(ex.Message);
        }
    }

    /// <summary>Pickles a result made of dictionaries, lists, strings, numbers, booleans and null (protocol 2).</summary>
    public static byte[] Dumps(object? value)
    {
        using var pickler = new Pickler(useMemo: false);
        return pickler.dumps(value);
    }

    /// <summary>The value of <paramref name="key"/> in an unpickled dict, or null when absent.</summary>
    public static object? Get(object? dict, string key) => dict is IDictionary d && d.Contains(key) ? d[key] : null;
}
