namespace HpsSharp.Testing;

/// <summary>
/// The one resolver for test data. Fixtures: <c>HPS_FIXTURES</c>, else the repository's <c>tests/fixtures/</c>, else
/// <c>../shared/fixtures/</c> beside the repository. Third-party assets (tokenizer files, sample photos, never
/// committed): <c>HPS_ASSETS</c>, else <c>../shared/assets/</c>.
/// </summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    /// <summary>The repository root (the folder holding <c>HpsSharp.slnx</c>).</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>A fixture file or folder, e.g. <c>Fixture("hpsv3-tiny/cases.json")</c>; throws naming every place looked at.</summary>
    public static string Fixture(string relative)
    {
        var candidates = new List<string>();
        var env = Environment.GetEnvironmentVariable("HPS_FIXTURES");
        if (!string.IsNullOrEmpty(env))
        {
            candidates.Add(Path.Combine(env, relative));
        }

        candidates.Add(Path.Combine(RepoRoot, "tests", "fixtures", relative));
        candidates.Add(Path.Combine(RepoRoot, "..", "shared", "fixtures", relative));
        return First(candidates, relative, "HPS_FIXTURES");
    }

    /// <summary>An asset file or folder, e.g. <c>Asset("qwen2-vl-tokenizer")</c> or <c>Asset("images/chelsea.png")</c>.</summary>
    public static string Asset(string relative)
    {
        var candidates = new List<string>();
        var env = Environment.GetEnvironmentVariable("HPS_ASSETS");
        if (!string.IsNullOrEmpty(env))
        {
            candidates.Add(Path.Combine(env, relative));
        }

        candidates.Add(Path.Combine(RepoRoot, "..", "shared", "assets", relative));
        return First(candidates, relative, "HPS_ASSETS");
    }

    /// <summary>The folder of the Qwen2-VL tokenizer files.</summary>
    public static string TokenizerDir => Asset("qwen2-vl-tokenizer");

    /// <summary>A sample photo from the shared assets.</summary>
    public static string Image(string fileName) => Asset(Path.Combine("images", fileName));

    /// <summary>
    /// A model folder as <c>hps model download</c> assembles one, inside <paramref name="dir"/>: links to the tiny
    /// fixture's config.json and model.safetensors plus the shared Qwen2-VL tokenizer files.
    /// </summary>
    public static string TinyModelDir(TempDir dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var model = System.IO.Path.Combine(dir.Path, "tiny-model");
        Directory.CreateDirectory(model);
        foreach (var f in new[] { "config.json", "model.safetensors" })
        {
            File.CreateSymbolicLink(System.IO.Path.Combine(model, f), Fixture(System.IO.Path.Combine("hpsv3-tiny", f)));
        }

        foreach (var f in Directory.GetFiles(TokenizerDir))
        {
            File.CreateSymbolicLink(System.IO.Path.Combine(model, System.IO.Path.GetFileName(f)), f);
        }

        return model;
    }

    /// <summary>A fresh empty temporary folder, removed by the returned handle's Dispose.</summary>
    public static TempDir TempDir(string? prefix = null) => new(prefix);

    private static string First(List<string> candidates, string relative, string variable)
    {
        foreach (var c in candidates)
        {
            if (File.Exists(c) || Directory.Exists(c))
            {
                return Path.GetFullPath(c);
            }
        }

        throw new FileNotFoundException(
            $"test data '{relative}' not found; looked in: {string.Join(", ", candidates.Select(Path.GetFullPath))}. Set {variable} to its folder.");
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HpsSharp.slnx")))
            {
                return dir.FullName;
            }

            dir = dir.Parent;
        }

        throw new DirectoryNotFoundException($"no HpsSharp.slnx above {AppContext.BaseDirectory}");
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string? prefix = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), (prefix ?? "hps-test-") + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
