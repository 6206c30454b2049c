using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HpsSharp.Core.Data;

namespace HpsSharp.Cohp;

/// <summary>A CoHP run folder: images, <c>run.json</c> and <c>index.html</c>, every file written atomically.</summary>
public sealed class RunFolder
{
    /// <summary>The name of the run document.</summary>
    public const string RunJson = "run.json";

    /// <summary>The name of the run's page.</summary>
    public const string IndexHtml = "index.html";

    public RunFolder(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    /// <summary>The folder's absolute path.</summary>
    public string Path { get; }

    /// <summary>
    /// The absolute path of a file given relative to the folder (forward slashes). The names come from
    /// <c>run.json</c>, which a resumed run reads back, so they go through Core's containment policy
    /// (<see cref="ImageRoot.Resolve"/>): a name that leaves the folder, by ".." or a link, is refused.
    /// </summary>
    /// <exception cref="ImagePathException">the name leaves the run folder.</exception>
    public string Full(string relative) => ImageRoot.Resolve(Path, relative);

    /// <summary>The run document of an earlier run in <paramref name="path"/>, or null when there is none.</summary>
    public static CohpRun? TryLoad(string path)
    {
        var file = System.IO.Path.Combine(path, RunJson);
        if (!File.Exists(file))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(file), CohpJsonContext.Default.CohpRun);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"'{file}' is not a CoHP run document ({ex.Message}); remove it or choose another output folder", ex);
        }
    }

    /// <summary>Writes <c>run.json</c> and <c>index.html</c> (each atomically).</summary>
    public void Save(CohpRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        WriteAtomic(RunJson, Encoding.UTF8.GetBytes(run.ToJson())); // the text --json prints: prompts keep "+" and "×"
        WriteAtomic(IndexHtml, Encoding.UTF8.GetBytes(CohpHtml.Render(run)));
    }

    /// <summary>Writes a file under the folder via a temporary file and a rename, so readers never see half a file.</summary>
    public void WriteAtomic(string relative, ReadOnlySpan<byte> bytes)
    {
        var target = Full(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
        var temp = target + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8];
        using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            fs.Write(bytes);
            fs.Flush();
        }

        File.Move(temp, target, overwrite: true);
    }

    /// <summary>SHA-256 (hex) of a file in the folder, or null when it does not exist.</summary>
    public string? HashOf(string relative)
    {
        var full = Full(relative);
        return File.Exists(full) ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(full))) : null;
    }
}
