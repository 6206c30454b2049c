using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Modeling.Tests;

/// <summary>
/// The whole scorer from image files and prompts — tokenizer, image processor, model — against the tiny fixture's
/// goldens (which start from the same image files and prompts).
/// </summary>
[Trait("Category", "Model")]
public sealed class EndToEndTests
{
    private static List<(string Id, string Prompt, string Image, double Mu, double LogSigma)> Cases(string mode)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TinyFixture.ModelDir, "cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c =>
        {
            var e = c.GetProperty("expected").GetProperty(mode);
            var image = Path.GetFullPath(Path.Combine(TinyFixture.ModelDir, c.GetProperty("image").GetString()!));
            if (!File.Exists(image))
            {
                image = TestPaths.Image(Path.GetFileName(image));
            }

            return (c.GetProperty("id").GetString()!, c.GetProperty("prompt").GetString()!, image, e.GetProperty("mu").GetDouble(), e.GetProperty("log_sigma").GetDouble());
        }).ToList();
    }

    [Fact]
    public async Task Fp32ScoresFromFilesBytesAndRgbMatchTheGoldens()
    {
        using var scorer = HpsScorer.Load(TinyFixture.ModelDir, new HpsScorerOptions(Precision.Fp32, BatchSize: 2, TokenizerDir: TestPaths.TokenizerDir));
        var cases = Cases("fp32");
        var requests = new List<ScoreRequest>();
        foreach (var c in cases)
        {
            requests.Add(new ScoreRequest(c.Prompt, ImageInput.FromPath(c.Image)));
            requests.Add(new ScoreRequest(c.Prompt, ImageInput.FromBytes(await File.ReadAllBytesAsync(c.Image), c.Id)));
            var rgb = ImageDecoder.Decode(ImageInput.FromPath(c.Image), 100_000_000);
            requests.Add(new ScoreRequest(c.Prompt, ImageInput.FromRgb(rgb.Pixels, rgb.Width, rgb.Height, c.Id + ".rgb")));
        }

        requests.Add(new ScoreRequest("a prompt", ImageInput.FromBytes(new byte[] { 1, 2, 3 }, "garbage")));
        var results = await scorer.ScoreAsync(requests);
        for (int i = 0; i < cases.Count * 3; i++)
        {
            var c = cases[i / 3];
            var s = results[i].Score ?? throw new InvalidOperationException($"{c.Id}: {results[i].Error}");
            Assert.True(Math.Abs(s.Mu - c.Mu) < 1e-4, $"{c.Id} ({requests[i].Image.Name}): μ {s.Mu:R} vs golden {c.Mu:R}");
            Assert.True(Math.Abs(s.LogSigma - c.LogSigma) < 1e-4, $"{c.Id}: log σ {s.LogSigma:R} vs golden {c.LogSigma:R}");
        }

        Assert.False(results[^1].Ok);
        Assert.Contains("garbage", results[^1].Error + results[^1].Request.Image.Name, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bf16ScoresMatchTheGoldensWithinTheFixtureTolerance()
    {
        using var scorer = HpsScorer.Load(TinyFixture.ModelDir, new HpsScorerOptions(TokenizerDir: TestPaths.TokenizerDir));
        Assert.Equal("bf16", scorer.Model.Dtype);
        var cases = Cases("bf16");
        var results = await scorer.ScoreAsync(cases.Select(c => new ScoreRequest(c.Prompt, ImageInput.FromPath(c.Image))).ToList());
        for (int i = 0; i < cases.Count; i++)
        {
            Assert.True(Math.Abs(results[i].Score!.Value.Mu - cases[i].Mu) < 0.1, $"{cases[i].Id}: μ {results[i].Score!.Value.Mu} vs {cases[i].Mu}");
        }
    }

    [Fact]
    public void AFolderWithoutTokenizerFilesIsAClearError()
    {
        var ex = Assert.Throws<TokenizerLoadException>(() => HpsScorer.Load(TinyFixture.ModelDir));
        Assert.Contains("vocab.json", ex.Message, StringComparison.Ordinal);
        Assert.Throws<Core.UserInputException>(() => HpsScorer.Load(TinyFixture.ModelDir, new HpsScorerOptions(BatchSize: -1, TokenizerDir: TestPaths.TokenizerDir)));
    }
}
