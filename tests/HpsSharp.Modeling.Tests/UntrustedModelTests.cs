using System.Text.Json.Nodes;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Modeling.Tests;

/// <summary>Model folders that lie: an absurd config.json, weights that produce NaN.</summary>
[Trait("Category", "Model")]
public sealed class UntrustedModelTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.TempDir("hps-untrusted-");

    public void Dispose() => _dir.Dispose();

    private string CopyTiny(string name)
    {
        string dir = _dir.File(name);
        Directory.CreateDirectory(dir);
        foreach (var f in new[] { "config.json", "model.safetensors" })
        {
            File.Copy(Path.Combine(TinyFixture.ModelDir, f), Path.Combine(dir, f));
        }

        return dir;
    }

    [Fact]
    public void AnAbsurdConfigIsRefusedBeforeAllocatingWithTheMemoryItWouldNeed()
    {
        string dir = CopyTiny("absurd");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        config["num_hidden_layers"] = 2_000_000_000;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());

        var ex = Assert.Throws<UserInputException>(() => Hpsv3Model.Load(dir, new ModelLoadOptions(Precision.Fp32)));
        Assert.Contains("2000000000 decoder layers", ex.Message, StringComparison.Ordinal);
        Assert.Contains("24,000,000,", ex.Message, StringComparison.Ordinal);
        Assert.Contains("refused before allocating", ex.Message, StringComparison.Ordinal);
        Assert.Matches(@"would need [0-9.]+ [PETZ]B in bf16", ex.Message);

        // Random initialisation (hps train --random-init) goes through the same check.
        var parsed = Qwen2VLConfig.Released7B with { NumHiddenLayers = 2_000_000_000 };
        Assert.Throws<UserInputException>(() => Hpsv3Model.Create(parsed));
        Qwen2VLConfig.Released7B.Validate("released");
    }

    [Fact]
    public async Task WeightsThatGiveNaNAreAnErrorForTheItemNotANumber()
    {
        string dir = CopyTiny("nan");
        string weights = Path.Combine(dir, "model.safetensors");
        long at;
        using (var file = SafetensorsFile.Open(weights))
        {
            at = file.DataOffset + file["rm_head.5.bias"].Begin;
        }

        using (var fs = new FileStream(weights, FileMode.Open, FileAccess.Write))
        {
            fs.Position = at;
            fs.Write(BitConverter.GetBytes(float.NaN));
        }

        using var scorer = HpsScorer.Load(dir, new HpsScorerOptions(Precision.Fp32, TokenizerDir: TestPaths.TokenizerDir, WeightDigestMemo: _dir.File("memo.json")));
        var result = Assert.Single(await scorer.ScoreAsync([new ScoreRequest("a cat", ImageInput.FromPath(TestPaths.Image("coins.png")))]));
        Assert.False(result.Ok);
        Assert.Null(result.Score);
        Assert.Contains("non-finite score (μ = NaN", result.Error, StringComparison.Ordinal);
    }
}
