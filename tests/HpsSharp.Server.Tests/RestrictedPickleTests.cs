using HpsSharp.Server.Protocols;
using Xunit;

namespace HpsSharp.Server.Tests;

[Trait("Category", "Unit")]
public sealed class RestrictedPickleTests
{
    [Theory]
    [InlineData(new byte[] { 0x80, 0x02, (byte)'c', (byte)'o', (byte)'s', (byte)'\n', (byte)'s', (byte)'y', (byte)'s', (byte)'t', (byte)'e', (byte)'m', (byte)'\n', (byte)'.' }, "GLOBAL (os.system)")]
    [InlineData(new byte[] { 0x80, 0x02, (byte)')', (byte)'R', (byte)'.' }, "REDUCE")]
    [InlineData(new byte[] { 0x80, 0x02, (byte)'}', (byte)')', (byte)'b', (byte)'.' }, "BUILD")]
    [InlineData(new byte[] { 0x80, 0x02, (byte)')', 0x81, (byte)'.' }, "NEWOBJ")]
    [InlineData(new byte[] { 0x80, 0x02, 0x82, 0x01, (byte)'.' }, "EXT1")]
    [InlineData(new byte[] { 0x80, 0x04, 0x8f, (byte)'.' }, "EMPTY_SET")]
    [InlineData(new byte[] { 0x80, 0x02, (byte)'P', (byte)'x', (byte)'\n', (byte)'.' }, "PERSID")]
    [InlineData(new byte[] { 0x80, 0x02, (byte)'(', (byte)'i', (byte)'a', (byte)'\n', (byte)'b', (byte)'\n', (byte)'.' }, "INST (a.b)")]
    public void RefusedOpcodesAreNamed(byte[] pickle, string expected)
    {
        var ex = Assert.Throws<PickleRefusedException>(() => RestrictedPickle.Loads(pickle));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AllowedValuesRoundTrip()
    {
        var value = new Dictionary<string, object?>
        {
            ["s"] = "ü", ["b"] = new byte[] { 1, 2 }, ["i"] = 7, ["f"] = 1.5, ["t"] = true, ["n"] = null,
            ["l"] = new List<object> { 1, "x" },
        };
        var back = (System.Collections.IDictionary)RestrictedPickle.Loads(PyPickle.Dumps(value))!;
        Assert.Equal("ü", back["s"]);
        Assert.Equal(new byte[] { 1, 2 }, back["b"]);
        Assert.Equal(1.5, back["f"]);
        Assert.Equal(true, back["t"]);
        Assert.Null(back["n"]);

        // What the service answers with (Razorvine's Pickler, no bytes inside) must pass its own reader too.
        var answer = RestrictedPickle.Dumps(new Dictionary<string, object?> { ["outputs"] = new List<object> { 1.5, double.NaN }, ["errors"] = new List<object?> { null, "x" } });
        var read = (System.Collections.IDictionary)RestrictedPickle.Loads(answer)!;
        Assert.Equal(1.5, ((System.Collections.IList)read["outputs"]!)[0]);
    }

    [Fact]
    public void TrailingBytesAndMissingStopAreRefused()
    {
        Assert.Contains("follow", Assert.Throws<PickleRefusedException>(() => RestrictedPickle.Loads([0x80, 0x02, (byte)'N', (byte)'.', 0])).Message, StringComparison.Ordinal);
        Assert.Contains("STOP", Assert.Throws<PickleRefusedException>(() => RestrictedPickle.Loads([0x80, 0x02, (byte)'N'])).Message, StringComparison.Ordinal);
        Assert.Contains("truncated", Assert.Throws<PickleRefusedException>(() => RestrictedPickle.Loads([0x80, 0x04, (byte)'X', 0xff, 0, 0, 0, (byte)'a'])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooManyOpcodesAreRefusedBeforeBuilding()
    {
        var body = new byte[RestrictedPickle.MaxOpcodes + 10];
        body[0] = 0x80;
        body[1] = 0x02;
        Array.Fill(body, (byte)']', 2, body.Length - 3); // a million empty lists
        body[^1] = (byte)'.';
        Assert.Contains("opcodes", Assert.Throws<PickleRefusedException>(() => RestrictedPickle.Loads(body)).Message, StringComparison.Ordinal);
    }
}
