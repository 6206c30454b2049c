using System.Text.Json;
using HpsSharp.Core.Text.Bert;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Scorers.Tests;

[Trait("Category", "Unit")]
public sealed class BertTokenizerTests
{
    private static readonly Lazy<BertTokenizer> Tokenizer = new(() => BertTokenizer.Load(TestPaths.Asset("bert-tokenizer")));

    public static TheoryData<string> CaseIds()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases())
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void IdsAndMaskAreExact(string id)
    {
        var c = Cases().Single(x => x.GetProperty("id").GetString() == id);
        var (ids, mask) = Tokenizer.Value.Encode(c.GetProperty("text").GetString()!, 35);
        Assert.Equal(c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()), ids);
        Assert.Equal(c.GetProperty("attention_mask").EnumerateArray().Select(e => e.GetInt64()), mask);
    }

    private static JsonElement[] Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("scorers/bert-tokenizer/cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(e => e.Clone()).ToArray();
    }
}
