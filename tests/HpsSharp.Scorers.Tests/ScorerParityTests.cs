using System.Text.Json;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;
using HpsSharp.Modeling;
using HpsSharp.Modeling.Scorers;
using HpsSharp.Testing;
using Xunit;
using static TorchSharp.torch;

namespace HpsSharp.Scorers.Tests;

/// <summary>
/// Every case of the four CLIP-family goldens, end to end from the image files and prompts through the registry's
/// loader: ids exact, pixels and every intermediate (patch embeddings, each layer's hidden states, pooled states,
/// embeddings) within the README tolerances, scores within theirs.
/// </summary>
[Trait("Category", "Model")]
public sealed class ScorerParityTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var scorer in new[] { "pickscore", "hpsv2.1", "clipscore", "aesthetic" })
        {
            foreach (var c in ReadCases(scorer))
            {
                data.Add(scorer, c.GetProperty("id").GetString()!);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ScorerMatchesTheGoldenCase(string scorer, string id)
    {
        var c = ReadCases(scorer).Single(x => x.GetProperty("id").GetString() == id);
        using var dir = TestPaths.TempDir();
        var prefix = c.TryGetProperty("prefix", out var p) ? p.GetString()! : string.Empty;
        using var model = ScorerFixtures.Load(scorer, dir, prefix: prefix);
        var (prompts, images) = Inputs(scorer, c);
        using var trace = new ForwardTrace();
        var scores = model.Compute(prompts, images, trace);
        using var golden = SafetensorsFile.Open(Path.Combine(ScorerFixtures.Folder(scorer), c.GetProperty("expected_file").GetString()!));

        int compared = 0;
        foreach (var info in golden.Tensors)
        {
            if (!trace.Values.TryGetValue(info.Name, out var actual))
            {
                continue;
            }

            Compare(golden, info, actual, Tolerance(scorer, info.Name), $"{scorer}/{id} {info.Name}");
            compared++;
        }

        Assert.True(compared >= (scorer == "aesthetic" ? 8 : 14), $"only {compared} golden tensors were compared");
        var expected = golden.ReadFloat32("scores");
        Assert.Equal(expected.Length, scores.Length);
        if (scorer == "pickscore" && golden.Contains("probs"))
        {
            var probs = PickScoreScorer.Probabilities(scores.Select(s => (double)s).ToList());
            var goldenProbs = golden.ReadFloat32("probs");
            for (int i = 0; i < probs.Length; i++)
            {
                Assert.True(Math.Abs(probs[i] - goldenProbs[i]) <= 1e-5, $"probs[{i}] {probs[i]} vs {goldenProbs[i]}");
            }
        }
    }

    [Fact]
    public void Hpsv2WithoutAntialiasMatchesTheNoaaGoldens()
    {
        foreach (var c in ReadCases("hpsv2.1"))
        {
            using var dir = TestPaths.TempDir();
            using var model = ScorerFixtures.Load("hpsv2.1", dir, antialias: false);
            var (prompts, images) = Inputs("hpsv2.1", c);
            using var trace = new ForwardTrace();
            model.Compute(prompts, images, trace);
            using var golden = SafetensorsFile.Open(Path.Combine(ScorerFixtures.Folder("hpsv2.1"), c.GetProperty("expected_file").GetString()!));
            // The antialias=False resize is 5e-5 off the golden pixels (see ClipPreprocessTests), so 1e-4 here, not 1e-5.
            Compare(golden, golden["image_embeds_noaa"], trace["image_embeds"], 1e-4, "image_embeds_noaa");
            Compare(golden, golden["scores_noaa"], trace["scores"], 1e-4, "scores_noaa");
        }
    }

    [Fact]
    public async Task ScoringThroughIScorerGivesTheGoldenScoresAndPerItemErrors()
    {
        var c = ReadCases("pickscore").Single(x => x.GetProperty("id").GetString() == "batch");
        using var dir = TestPaths.TempDir();
        using var model = ScorerFixtures.Load("pickscore", dir);
        var prompts = c.GetProperty("prompts").EnumerateArray().Select(x => x.GetString()!).ToList();
        var paths = c.GetProperty("images").EnumerateArray().Select(x => Path.GetFullPath(Path.Combine(ScorerFixtures.Folder("pickscore"), x.GetProperty("image").GetString()!))).ToList();
        var requests = prompts.Select((pr, i) => new ScoreRequest(pr, ImageInput.FromPath(paths[i]))).Append(new ScoreRequest("x", ImageInput.FromPath(Path.Combine(dir.Path, "missing.png")))).ToList();
        var results = await model.ScoreAsync(requests);
        var expected = c.GetProperty("expected").GetProperty("scores").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(results[i].Ok, results[i].Error);
            Assert.False(results[i].Score!.Value.HasUncertainty);
            Assert.True(Math.Abs(results[i].Score!.Value.Mu - expected[i]) <= 1e-4, $"{results[i].Score!.Value.Mu} vs {expected[i]}");
        }

        Assert.False(results[^1].Ok);
        Assert.Contains("missing.png", results[^1].Error, StringComparison.Ordinal);
        Assert.Equal("pickscore", model.Model.Scorer);
    }

    private static double Tolerance(string scorer, string name) => name switch
    {
        "input_ids" or "attention_mask" or "text_pool_index" => 0,
        "pixel_values" => scorer == "hpsv2.1" ? 1e-5 : 1e-6,
        "scores" => scorer switch { "pickscore" or "aesthetic" => 1e-4, "clipscore" => 3e-5, _ => 1e-5 },
        _ => 1e-5,
    };

    private static void Compare(SafetensorsFile golden, TensorInfo info, Tensor actual, double atol, string what)
    {
        var expected = info.Dtype == SafetensorsDtype.I64
            ? golden.ReadInt64(info.Name).Select(v => (float)v).ToArray()
            : golden.ReadFloat32(info.Name);
        var a = actual.to(ScalarType.Float32);
        if (!a.shape.SequenceEqual(info.Shape))
        {
            // One prompt against N images (rank): the golden holds the text once, the pairwise run N copies.
            int batchDim = info.Name == "text_hidden_states" ? 1 : 0;
            Assert.True(info.Shape[batchDim] == 1, $"{what}: shape [{string.Join(", ", a.shape)}] vs golden [{string.Join(", ", info.Shape)}]");
            a = a.narrow(batchDim, 0, 1);
        }

        ClipPreprocessTests.Close(expected, a.contiguous(), atol, what);
    }

    private static (List<string> Prompts, List<RgbImage> Images) Inputs(string scorer, JsonElement c)
    {
        var images = c.GetProperty("images").EnumerateArray()
            .Select(x => ImageDecoder.Decode(ImageInput.FromPath(Path.GetFullPath(Path.Combine(ScorerFixtures.Folder(scorer), x.GetProperty("image").GetString()!)))))
            .ToList();
        var prompts = c.TryGetProperty("prompts", out var ps) ? ps.EnumerateArray().Select(x => x.GetString()!).ToList() : images.Select(_ => string.Empty).ToList();
        if (prompts.Count == 1 && images.Count > 1)
        {
            prompts = images.Select(_ => prompts[0]).ToList();
        }

        return (prompts, images);
    }

    private static JsonElement[] ReadCases(string scorer)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ScorerFixtures.Folder(scorer), "cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(e => e.Clone()).ToArray();
    }
}

/// <summary>Model folders as the registry expects them, assembled from the fixtures with links.</summary>
internal static class ScorerFixtures
{
    public static string Folder(string scorer) => TestPaths.Fixture("scorers/" + (scorer == "hpsv2.1" ? "hpsv2" : scorer));

    public static string ModelDir(string scorer, TempDir dir)
    {
        var model = Path.Combine(dir.Path, scorer);
        Directory.CreateDirectory(model);
        var src = Folder(scorer);
        foreach (var f in Directory.GetFiles(src).Where(f => !Path.GetFileName(f).StartsWith("expected_", StringComparison.Ordinal)))
        {
            File.CreateSymbolicLink(Path.Combine(model, Path.GetFileName(f)), f);
        }

        if (scorer == "aesthetic")
        {
            Directory.CreateSymbolicLink(Path.Combine(model, "clip"), Folder("clipscore"));
        }

        File.CreateSymbolicLink(Path.Combine(model, HpsSharp.Core.Text.Clip.ClipTokenizer.VocabFileName), Path.Combine(TestPaths.Asset("clip-tokenizer"), HpsSharp.Core.Text.Clip.ClipTokenizer.VocabFileName));
        return model;
    }

    public static ClipFamilyScorer Load(string scorer, TempDir dir, bool antialias = true, string prefix = "") =>
        ScorerRegistry.LoadBaseline(scorer, new BaselineScorerOptions(ModelDir(scorer, dir), Hpsv2Antialias: antialias, ClipScorePrefix: prefix));
}
