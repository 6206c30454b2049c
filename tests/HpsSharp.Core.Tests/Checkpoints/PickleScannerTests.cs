using System.Text;
using HpsSharp.Core.Checkpoints;
using Xunit;

namespace HpsSharp.Core.Tests.Checkpoints;

/// <summary>One scanner, two policies: the torch allow-list and the service's plain-data reader.</summary>
[Trait("Category", "Unit")]
public sealed class PickleScannerTests
{
    private static readonly PicklePolicy Torch = new()
    {
        Accepts = "torch only",
        AllowGlobal = (m, n) => m == "collections" && n == "OrderedDict",
        AllowObjectConstruction = true,
        AllowSetsAndBuffers = true,
    };

    private static readonly PicklePolicy Plain = new() { Accepts = "plain data only", MaxOpcodes = 8, RefuseTrailingBytes = true };

    private static byte[] P(string latin1) => Encoding.Latin1.GetBytes(latin1);

    private static string Refusal(string latin1, PicklePolicy policy) =>
        Assert.Throws<PickleScanException>(() => PickleScanner.Check(P(latin1), policy)).Message;

    [Fact]
    public void AnAllowedGlobalWithReducePassesTheTorchPolicyAndNotThePlainOne()
    {
        const string orderedDict = "\u0080\u0002ccollections\nOrderedDict\n)R.";
        PickleScanner.Check(P(orderedDict), Torch);
        Assert.Contains("GLOBAL (collections.OrderedDict) at byte 2 is refused: plain data only", Refusal(orderedDict, Plain), StringComparison.Ordinal);

        // STACK_GLOBAL from two literal pushes (memoised on the way) is checked against the allow-list.
        PickleScanner.Check(P("\u0080\u0004\u008c\u000bcollections\u0094\u008c\u000bOrderedDict\u0094\u0093)R."), Torch);
        Assert.Contains("'os.system' is not on the allow-list (torch only)", Refusal("\u0080\u0004\u008c\u0002os\u008c\u0006system\u0093.", Torch), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\u0080\u0002)R.", "REDUCE")]
    [InlineData("\u0080\u0004\u008f.", "EMPTY_SET")]
    [InlineData("\u0080\u0002\u0082\u0001.", "EXT1")]
    public void ConstructionSetsAndExtensionsFollowThePolicy(string pickle, string opcode)
    {
        Assert.Contains(opcode, Refusal(pickle, Plain), StringComparison.Ordinal);
        if (opcode == "EXT1")
        {
            Assert.Contains("EXT1", Refusal(pickle, Torch), StringComparison.Ordinal); // refused by every policy
        }
        else
        {
            PickleScanner.Check(P(pickle), Torch);
        }
    }

    [Fact]
    public void TrailingBytesOpcodeCountAndMalformedArgumentsAreOneLineErrors()
    {
        PickleScanner.Check(P("\u0080\u0002N.junk"), Torch); // as Python's unpickler: what follows STOP is not read
        Assert.Contains("4 bytes follow", Refusal("\u0080\u0002N.junk", Plain), StringComparison.Ordinal);
        Assert.Contains("more than 8 opcodes", Refusal("\u0080\u0002]]]]]]]]]].", Plain), StringComparison.Ordinal);
        Assert.Contains("malformed memo index 'x'", Refusal("\u0080\u0002Ngx\n.", Torch), StringComparison.Ordinal);
        Assert.Contains("truncated", Refusal("\u0080\u0004X\u00ff\u0000\u0000\u0000a", Torch), StringComparison.Ordinal);
        Assert.Contains("without a STOP", Refusal("\u0080\u0002N", Torch), StringComparison.Ordinal);
        Assert.Contains("unknown pickle opcode 0xff", Refusal("\u0080\u0002\u00ff.", Torch), StringComparison.Ordinal);
    }
}
