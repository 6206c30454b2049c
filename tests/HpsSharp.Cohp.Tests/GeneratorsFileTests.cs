using System.Text.Json.Nodes;
using HpsSharp.Cohp.Generators;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cohp.Tests;

[Trait("Category", "Unit")]
public sealed class GeneratorsFileTests
{
    private static IReadOnlyList<GeneratorSpec> Load(TempDir dir, string json)
    {
        var path = dir.File("generators.json");
        File.WriteAllText(path, json);
        return GeneratorsFile.Load(path);
    }

    [Fact]
    public void ReadsEntriesWithDefaultsAndWorkflowPathsRelativeToTheFile()
    {
        using var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(TestPaths.RepoRoot, "tools", "cohp", "comfyui-txt2img.json"), dir.File("t.json"));
        File.Copy(Path.Combine(TestPaths.RepoRoot, "tools", "cohp", "comfyui-img2img.json"), dir.File("i.json"));
        var specs = Load(dir, """
            [ {"name": "sdxl", "kind": "a1111", "url": "http://127.0.0.1:7860", "steps": 30, "guidance": 5.5, "sampler": "Euler a",
               "model": "sd_xl_base_1.0", "extra": {"scheduler": "Karras"}, "headers": {"Authorization": "Basic eDp5"}, "timeout_s": 90, "retries": 4, "retry_delay_s": 0.5},
              {"name": "flux", "kind": "comfyui", "url": "http://gpu-box:8188/", "workflow": "t.json", "img2img_workflow": "i.json", "width": 768, "height": 512} ]
            """);
        Assert.Equal(2, specs.Count);
        var a = specs[0];
        Assert.Equal(("sdxl", GeneratorKind.A1111, 1024, 1024, 30, 5.5, "Euler a"), (a.Name, a.Kind, a.Width, a.Height, a.Steps!.Value, a.Guidance!.Value, a.Sampler!));
        Assert.Equal(TimeSpan.FromSeconds(90), a.Timeout);
        Assert.Equal(4, a.Retries);
        Assert.Equal("Basic eDp5", a.Headers["Authorization"]);
        var c = specs[1];
        Assert.Equal((GeneratorKind.ComfyUi, 768, 512), (c.Kind, c.Width, c.Height));
        Assert.Null(c.Steps);
        Assert.Equal("{{seed}}", c.Workflow!["3"]!["inputs"]!["seed"]!.GetValue<string>());
        Assert.Equal(TimeSpan.FromSeconds(600), c.Timeout);
        Assert.Equal(2, c.Retries);
    }

    [Theory]
    [InlineData("""{"name": "x"}""", "must be a JSON array")]
    [InlineData("""[]""", "lists no generator")]
    [InlineData("""[{"name": "x", "kind": "a1111", "url": "http://h:1", "stepz": 3}]""", "generator 'x': unknown key 'stepz'")]
    [InlineData("""[{"name": "x", "kind": "dalle", "url": "http://h:1"}]""", "generator 'x': 'kind' is 'dalle'")]
    [InlineData("""[{"name": "x", "kind": "a1111"}]""", "generator 'x': 'url' is required")]
    [InlineData("""[{"name": "x", "kind": "a1111", "url": "ftp://h"}]""", "'url' is 'ftp://h'")]
    [InlineData("""[{"name": "a b", "kind": "a1111", "url": "http://h:1"}]""", "'name' may hold only")]
    [InlineData("""[{"name": "x", "kind": "a1111", "url": "http://h:1"}, {"name": "X", "kind": "a1111", "url": "http://h:2"}]""", "generator 'X': the name is used twice")]
    [InlineData("""[{"name": "x", "kind": "a1111", "url": "http://h:1", "width": 0}]""", "'width' is 0")]
    [InlineData("""[{"name": "x", "kind": "a1111", "url": "http://h:1", "steps": 2.5}]""", "'steps' must be a whole number")]
    [InlineData("""[{"name": "x", "kind": "comfyui", "url": "http://h:1"}]""", "needs 'workflow'")]
    [InlineData("""[{"name": "x", "kind": "comfyui", "url": "http://h:1", "workflow": {"1": {"inputs": {"text": "{{prompt}}"}}}, "img2img_workflow": {"1": {}}}]""", "'workflow' lacks the placeholder(s) {{seed}}")]
    [InlineData("""[{"name": "x", "kind": "comfyui", "url": "http://h:1", "workflow": {"1": {"inputs": {"text": "{{prompt}}", "seed": "{{seed}}", "steps": "{{steps}}"}}}, "img2img_workflow": {"1": {"inputs": {"text": "{{prompt}}", "seed": "{{seed}}", "image": "{{image}}", "denoise": "{{strength}}"}}}}]""", "uses {{steps}} but 'steps' is not set")]
    [InlineData("""[{"name": "x", "kind": "comfyui", "url": "http://h:1", "workflow": {"1": {"inputs": {"text": "{{prompt}}", "seed": "{{seed}}", "c": "{{cfg}}"}}}, "img2img_workflow": {"1": {}}}]""", "unknown placeholder {{cfg}}")]
    [InlineData("""[{"name": "x", "kind": "comfyui", "url": "http://h:1", "workflow": "missing.json", "img2img_workflow": "missing.json"}]""", "missing.json' not found")]
    [InlineData("""[{"name": "x", "kind": "a1111", "url": "http://h:1", "workflow": {}}]""", "apply to comfyui generators only")]
    [InlineData("""[{"name": "x",""", "not valid JSON")]
    public void BadFilesFailNamingTheFileTheEntryAndTheProblem(string json, string expected)
    {
        using var dir = TestPaths.TempDir();
        var ex = Assert.Throws<GeneratorConfigException>(() => Load(dir, json));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("generators.json", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFileIsReported()
    {
        var ex = Assert.Throws<GeneratorConfigException>(() => GeneratorsFile.Load("/nonexistent/gens.json"));
        Assert.Contains("file not found", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FingerprintFollowsImageSettingsButNotTransport()
    {
        var a = TestSupport.A1111("g", "http://127.0.0.1:1");
        Assert.Equal(a.Fingerprint(), (a with { Url = new Uri("http://other:2"), Retries = 9, Timeout = TimeSpan.FromSeconds(1) }).Fingerprint());
        Assert.NotEqual(a.Fingerprint(), (a with { Steps = 12 }).Fingerprint());
        Assert.NotEqual(a.Fingerprint(), (a with { Extra = new JsonObject { ["scheduler"] = "Karras" } }).Fingerprint());
    }
}

[Trait("Category", "Unit")]
public sealed class ComfyUiTemplateTests
{
    [Fact]
    public void WholeValuePlaceholdersKeepTheirTypeAndEmbeddedOnesBecomeText()
    {
        var template = (JsonObject)JsonNode.Parse("""{"3": {"inputs": {"seed": "{{seed}}", "denoise": "{{strength}}", "text": "{{prompt}}", "note": "seed={{seed}} w={{width}}", "list": ["{{width}}", 2]}}}""")!;
        var values = new Dictionary<string, JsonNode?> { ["seed"] = 4294967294L, ["strength"] = 0.5, ["prompt"] = "a \"cat\"", ["width"] = 64 };
        var r = ComfyUiGenerator.Render(template, values);
        var inputs = r["3"]!["inputs"]!;
        Assert.Equal(System.Text.Json.JsonValueKind.Number, inputs["seed"]!.GetValueKind());
        Assert.Equal(4294967294L, inputs["seed"]!.GetValue<long>());
        Assert.Equal(0.5, inputs["denoise"]!.GetValue<double>());
        Assert.Equal("a \"cat\"", inputs["text"]!.GetValue<string>());
        Assert.Equal("seed=4294967294 w=64", inputs["note"]!.GetValue<string>());
        Assert.Equal(64, inputs["list"]![0]!.GetValue<int>());
        Assert.Equal("{{seed}}", template["3"]!["inputs"]!["seed"]!.GetValue<string>()); // the template is untouched
    }

    [Fact]
    public void UnsetPlaceholderIsAClearError()
    {
        var template = (JsonObject)JsonNode.Parse("""{"3": {"inputs": {"steps": "{{steps}}"}}}""")!;
        var ex = Assert.Throws<ArgumentException>(() => ComfyUiGenerator.Render(template, new Dictionary<string, JsonNode?>()));
        Assert.Contains("{{steps}}", ex.Message, StringComparison.Ordinal);
    }
}
