using System.Security.Cryptography;
using System.Text.Json;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Diagnostics.Tests;

[Trait("Category", "Model")]
public sealed class DoctorTests
{
    // The healthy machine's memory is real; the tests that need a verdict independent of this machine's free
    // memory pin it to plenty (the tiny model needs ~0.5 GiB).
    private const long Plenty = 64L << 30;

    [Fact]
    public void HealthyTinyModel_PassesEveryRequiredCheck()
    {
        using var tmp = TestPaths.TempDir();
        var report = Doctor.Run(new DoctorOptions(TestPaths.TinyModelDir(tmp), AvailableMemoryBytes: Plenty));
        Assert.True(report.Ok, Failures(report));
        foreach (var name in new[] { "dotnet", "libtorch", "glibcxx", "cpu", "threads", "cuda", "hf_cache", "model", "config", "checkpoint", "checksums", "tokenizer", "memory", "disk" })
        {
            Assert.NotNull(report[name]);
        }

        Assert.Contains("9707 1879", report["tokenizer"]!.Detail, StringComparison.Ordinal);
        Assert.Contains("hidden 32, 2 layers", report["checkpoint"]!.Detail, StringComparison.Ordinal);
        Assert.Contains("not the released HPSv3", report["checkpoint"]!.Detail, StringComparison.Ordinal);
        Assert.All(report.Checks.Where(c => c.Ok), c => Assert.Null(c.Fix));
    }

    [Fact]
    public void MissingTokenizer_FailsWithTheFix()
    {
        using var tmp = TestPaths.TempDir();
        var dir = TestPaths.TinyModelDir(tmp);
        foreach (var f in new[] { "tokenizer.json", "vocab.json", "merges.txt" })
        {
            File.Delete(Path.Combine(dir, f));
        }

        var report = Doctor.Run(new DoctorOptions(dir, AvailableMemoryBytes: Plenty));
        var tok = report["tokenizer"]!;
        Assert.False(tok.Ok);
        Assert.True(tok.Required);
        Assert.False(report.Ok);
        Assert.Contains("vocab.json", tok.Detail, StringComparison.Ordinal);
        Assert.Contains("tokenizer.json", tok.Fix, StringComparison.Ordinal);
        Assert.True(report["checkpoint"]!.Ok, "only the tokenizer is broken");
    }

    [Fact]
    public void TruncatedCheckpoint_FailsAndSaysTruncated()
    {
        using var tmp = TestPaths.TempDir();
        var dir = TestPaths.TinyModelDir(tmp);
        var weights = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.Delete(weights);                                   // the link, not the fixture
        File.WriteAllBytes(weights, bytes.AsSpan(0, bytes.Length / 2).ToArray());

        var report = Doctor.Run(new DoctorOptions(dir, AvailableMemoryBytes: Plenty));
        var ck = report["checkpoint"]!;
        Assert.False(ck.Ok);
        Assert.False(report.Ok);
        Assert.Contains("truncated", ck.Fix, StringComparison.Ordinal);
        Assert.Contains("model.safetensors", ck.Detail, StringComparison.Ordinal);
        Assert.True(report["tokenizer"]!.Ok);
    }

    [Fact]
    public void TooLittleMemory_FailsTheMemoryCheck()
    {
        using var tmp = TestPaths.TempDir();
        var report = Doctor.Run(new DoctorOptions(TestPaths.TinyModelDir(tmp), AvailableMemoryBytes: 64L << 20));
        var mem = report["memory"]!;
        Assert.False(mem.Ok);
        Assert.True(mem.Required);
        Assert.False(report.Ok);
        Assert.Contains("64.0 MiB available", mem.Detail, StringComparison.Ordinal);
        Assert.NotNull(mem.Fix);
    }

    [Fact]
    public void MemoryOverride_FromTheEnvironmentVariable()
    {
        var env = new Dictionary<string, string?> { [SystemFacts.AvailableMemoryVariable] = "12345", [SystemFacts.FreeDiskVariable] = "678" };
        var facts = SystemFacts.Read(n => env.GetValueOrDefault(n));
        Assert.Equal(12345, facts.AvailableMemoryBytes);
        Assert.True(facts.TotalMemoryBytes > 12345);
        Assert.Equal(678, SystemFacts.FreeDiskBytes("/", n => env.GetValueOrDefault(n)));
    }

    [Fact]
    public void WithoutAModel_MemoryIsJudgedAgainstThe7BButIsNotRequired()
    {
        var report = Doctor.Run(new DoctorOptions(AvailableMemoryBytes: 1L << 30, FreeDiskBytes: 1L << 30));
        var mem = report["memory"]!;
        Assert.False(mem.Ok);
        Assert.False(mem.Required);
        Assert.Contains("the released HPSv3-7B", mem.Detail, StringComparison.Ordinal);
        Assert.False(report["disk"]!.Ok);
        Assert.Null(report["tokenizer"]);
        Assert.True(report.Ok, Failures(report));
    }

    [Fact]
    public void MissingFolder_Fails()
    {
        var report = Doctor.Run(new DoctorOptions("/nonexistent/hps-model", AvailableMemoryBytes: Plenty));
        Assert.False(report["model"]!.Ok);
        Assert.False(report.Ok);
        Assert.Contains("hps model download", report["model"]!.Fix, StringComparison.Ordinal);
        Assert.EndsWith("pass the folder it prints to ModelDir", report["model"]!.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void AdviceNamesOptionsAsTheFrontEndNamesThem()
    {
        // The library names fields; hps doctor passes its flags (OptionFlags) and the advice reads as its command line.
        var flags = new Core.OptionNameFormat(f => f switch { "ModelDir" => "--model", "Device" => "--device", "Dtype" => "--dtype", _ => "--" + f });
        var report = Doctor.Run(new DoctorOptions("/nonexistent/hps-model", AvailableMemoryBytes: 1L << 30, OptionNames: flags));
        Assert.EndsWith("pass the folder it prints to --model", report["model"]!.Fix, StringComparison.Ordinal);
        Assert.Contains("or use --device cuda on a GPU", report["memory"]!.Fix, StringComparison.Ordinal);
        Assert.DoesNotContain("Device", report["memory"]!.Fix!, StringComparison.Ordinal);
    }

    [Fact]
    public void Checksums_SizesFromProvenance_AndVerifyRehashesBlobs()
    {
        using var tmp = TestPaths.TempDir();
        var dir = TestPaths.TinyModelDir(tmp);
        // Lay the weights out as the hub cache does: a blob named by its SHA-256, linked from the folder.
        var blobs = Directory.CreateDirectory(Path.Combine(tmp.Path, "blobs")).FullName;
        var weights = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var blob = Path.Combine(blobs, sha);
        File.WriteAllBytes(blob, bytes);
        File.Delete(weights);
        File.CreateSymbolicLink(weights, Path.GetRelativePath(dir, blob));
        WriteSource(dir, bytes.Length);

        var ok = Doctor.Run(new DoctorOptions(dir, VerifyChecksums: true, AvailableMemoryBytes: Plenty))["checksums"]!;
        Assert.True(ok.Ok, ok.Detail);
        Assert.Contains("SHA-256 re-verified for model.safetensors", ok.Detail, StringComparison.Ordinal);

        // Same size, one flipped byte in the data: only a re-hash can see it.
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(blob, bytes);
        Assert.True(Doctor.Run(new DoctorOptions(dir, AvailableMemoryBytes: Plenty))["checksums"]!.Ok);
        var bad = Doctor.Run(new DoctorOptions(dir, VerifyChecksums: true, AvailableMemoryBytes: Plenty));
        Assert.False(bad["checksums"]!.Ok);
        Assert.False(bad.Ok);
        Assert.Contains("differs from its blob name", bad["checksums"]!.Detail, StringComparison.Ordinal);

        WriteSource(dir, bytes.Length + 1);
        var size = Doctor.Run(new DoctorOptions(dir, AvailableMemoryBytes: Plenty))["checksums"]!;
        Assert.False(size.Ok);
        Assert.Contains("the download recorded", size.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_HasTheDocumentedShape()
    {
        using var tmp = TestPaths.TempDir();
        var dir = TestPaths.TinyModelDir(tmp);
        File.Delete(Path.Combine(dir, "config.json"));
        var report = Doctor.Run(new DoctorOptions(dir, AvailableMemoryBytes: Plenty));
        using var doc = JsonDocument.Parse(report.ToJson());
        Assert.False(doc.RootElement.GetProperty("ok").GetBoolean());
        var checks = doc.RootElement.GetProperty("checks").EnumerateArray().ToList();
        Assert.Equal(report.Checks.Count, checks.Count);
        foreach (var c in checks)
        {
            Assert.Equal(JsonValueKind.String, c.GetProperty("name").ValueKind);
            Assert.True(c.GetProperty("ok").ValueKind is JsonValueKind.True or JsonValueKind.False);
            Assert.Equal(JsonValueKind.String, c.GetProperty("detail").ValueKind);
            Assert.True(c.GetProperty("fix").ValueKind is JsonValueKind.String or JsonValueKind.Null);
        }

        var config = checks.Single(c => c.GetProperty("name").GetString() == "config");
        Assert.False(config.GetProperty("ok").GetBoolean());
        Assert.Contains("config.json", config.GetProperty("fix").GetString(), StringComparison.Ordinal);
    }

    private static void WriteSource(string dir, long size) => File.WriteAllText(Path.Combine(dir, "hpssharp-source.json"),
        $$"""{"repo": "MizzenAI/HPSv3", "files": [{"name": "model.safetensors", "repo": "x/y", "path": "model.safetensors", "size": {{size}}}]}""");

    private static string Failures(DoctorReport report) =>
        string.Join("; ", report.Checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Detail}"));
}
