using System.Text.Json;
using HpsSharp.Core.Safetensors;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class TokenizePreprocessTests
{
    [Fact]
    public async Task TokenizeTextJson()
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync("tokenize", "--model", TestPaths.TokenizerDir, "--text", "Hello world", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal([9707, 1879], doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.False(doc.RootElement.TryGetProperty("reward_index", out _));
    }

    [Fact]
    public async Task TokenizePromptAndImageGivesTheReferenceModelInput()
    {
        using var cases = JsonDocument.Parse(File.ReadAllText(TestPaths.Fixture("hpsv3-tiny/cases.json")));
        var chelsea = cases.RootElement.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("id").GetString() == "chelsea");
        var (code, stdout, stderr) = await CliHarness.RunAsync("tokenize", "--model", TestPaths.TokenizerDir,
            "--prompt", chelsea.GetProperty("prompt").GetString()!, "--image", TestPaths.Image("chelsea.png"), "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        using var expected = SafetensorsFile.Open(TestPaths.Fixture("hpsv3-tiny/expected_chelsea.safetensors"));
        Assert.Equal(expected.ReadInt64("input_ids"), doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(expected.ReadInt64("reward_index")[0], doc.RootElement.GetProperty("reward_index").GetInt64());
    }

    [Fact]
    public async Task TokenizeNeedsExactlyOneInputForm()
    {
        var (code, _, stderr) = await CliHarness.RunAsync("tokenize", "--model", TestPaths.TokenizerDir, "--prompt", "x");
        Assert.Equal(2, code); // a usage error
        Assert.Contains("--image", stderr, StringComparison.Ordinal);
        (code, _, _) = await CliHarness.RunAsync("tokenize", "--model", TestPaths.TokenizerDir);
        Assert.Equal(2, code);
    }

    [Fact]
    public async Task PreprocessWritesTheReferencePixelTensor()
    {
        using var dir = TestPaths.TempDir();
        var outFile = dir.File("chelsea.safetensors");
        var (code, _, stderr) = await CliHarness.RunAsync("preprocess", "--model", TestPaths.TokenizerDir, TestPaths.Image("chelsea.png"), "--out", outFile);
        Assert.True(code == 0, stderr);
        using var actual = SafetensorsFile.Open(outFile);
        using var expected = SafetensorsFile.Open(TestPaths.Fixture("hpsv3-tiny/expected_chelsea.safetensors"));
        Assert.Equal(expected["pixel_values"].Shape, actual["pixel_values"].Shape);
        Assert.Equal(SafetensorsDtype.I64, actual["image_grid_thw"].Dtype);
        Assert.Equal(expected.ReadInt64("image_grid_thw"), actual.ReadInt64("image_grid_thw"));
        var e = expected.ReadFloat32("pixel_values");
        var a = actual.ReadFloat32("pixel_values");
        double worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(e[i] - a[i]));
        }

        Assert.True(worst <= 1e-6, $"max |Δ| = {worst}");
    }

    [Fact]
    public async Task PreprocessOfABadImageIsAOneLineUserError()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("bad.png"), "not an image");
        var (code, stdout, stderr) = await CliHarness.RunAsync("preprocess", "--model", TestPaths.TokenizerDir, dir.File("bad.png"), "--out", dir.File("o.safetensors"));
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("bad.png", stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("o.safetensors")));
    }
}
