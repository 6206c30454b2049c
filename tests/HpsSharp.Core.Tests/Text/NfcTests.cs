using System.Text.Json;
using HpsSharp.Core.Text;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Text;

[Trait("Category", "Unit")]
public sealed class NfcTests
{
    [Fact]
    public void MatchesPythonUnicodedataOnAllVectors()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("text/nfc_cases.json")));
        var failures = new List<string>();
        int count = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var input = c[0].GetString()!;
            var expected = c[1].GetString()!;
            var actual = Nfc.Normalize(input);
            if (actual != expected)
            {
                failures.Add($"{Hex(input)}: expected {Hex(expected)}, got {Hex(actual)}");
            }

            count++;
        }

        Assert.True(count > 5000, $"only {count} vectors");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} differ, first: {string.Join("; ", failures.Take(5))}");
    }

    [Fact]
    public void StableTextIsReturnedAsTheSameInstance()
    {
        const string ascii = "A photo of a cat, 100% <|im_end|>";
        Assert.Same(ascii, Nfc.Normalize(ascii));
        var composed = "caf\u00e9 \u4e2d\u6587 \U0001f431";
        Assert.Same(composed, Nfc.Normalize(composed));
    }

    [Fact]
    public void ComposesReordersAndKeepsLoneSurrogates()
    {
        Assert.Equal("caf\u00e9", Nfc.Normalize("cafe\u0301"));
        Assert.Equal("\u1e69", Nfc.Normalize("s\u0307\u0323"));
        Assert.Equal("\uac01", Nfc.Normalize("\u1100\u1161\u11a8"));
        Assert.Equal("\u226f", Nfc.Normalize(">\u0338"));
        Assert.Equal("a\ud800\u0301b", Nfc.Normalize("a\ud800\u0301b"));
        Assert.Equal("\u00e1\udc00", Nfc.Normalize("a\u0301\udc00"));
    }

    private static string Hex(string s) => string.Join(" ", s.Select(ch => ((int)ch).ToString("X4", System.Globalization.CultureInfo.InvariantCulture)));
}
