using System.Text.Json.Nodes;
using HpsSharp.Cohp.Generators;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;

namespace HpsSharp.Cohp.Tests;

internal static class TestSupport
{
    public static GeneratorSpec A1111(string name, string url, int size = 32) => new()
    {
        Name = name,
        Kind = GeneratorKind.A1111,
        Url = new Uri(url),
        Width = size,
        Height = size,
        Retries = 1,
        RetryDelay = TimeSpan.FromMilliseconds(5),
        Timeout = TimeSpan.FromSeconds(20),
    };

    public static GeneratorSpec Comfy(string name, string url, int size = 32) => new()
    {
        Name = name,
        Kind = GeneratorKind.ComfyUi,
        Url = new Uri(url),
        Width = size,
        Height = size,
        Retries = 1,
        RetryDelay = TimeSpan.FromMilliseconds(5),
        Timeout = TimeSpan.FromSeconds(20),
        PollInterval = TimeSpan.FromMilliseconds(5),
        Workflow = Workflow("comfyui-txt2img.json"),
        Img2ImgWorkflow = Workflow("comfyui-img2img.json"),
    };

    /// <summary>The example workflows shipped in tools/cohp (the tests use them so the examples stay working).</summary>
    public static JsonObject Workflow(string file) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tools", "cohp", file)))!;

    /// <summary>
    /// A scorer whose preferences are known: μ by the image's path relative to the run folder ("model/beta-2.png",
    /// "round-3/candidate-2.png"); log σ = −1. An image missing from the table fails to score.
    /// </summary>
    public static FakeScorer TableScorer(string runFolder, IReadOnlyDictionary<string, double> mu) => new(req =>
    {
        string rel = Path.GetRelativePath(runFolder, req.Image.Path!).Replace('\\', '/');
        return mu.TryGetValue(rel, out double m) ? new Score(m, -1) : throw new InvalidDataException($"no score for {rel}");
    });
}
