using System.Text.Json;

namespace HpsSharp.Core.Scoring;

/// <summary>
/// Builds score requests from the three input forms the tools accept: images with one prompt, a JSONL manifest
/// (<c>{"prompt": .., "image": ..}</c> per line; relative paths are relative to the manifest's folder), or a folder
/// where each image <c>x.png</c> has its prompt in <c>x.txt</c>.
/// </summary>
public static class ScoreInputs
{
    /// <summary>File extensions treated as images when scanning a folder.</summary>
    public static readonly IReadOnlySet<string> ImageExtensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif",
    };

    /// <summary>One prompt for every image path.</summary>
    public static IReadOnlyList<ScoreRequest> FromImages(string prompt, IEnumerable<string> images)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(images);
        return images.Select(p => new ScoreRequest(prompt, ImageInput.FromPath(p))).ToList();
    }

    /// <summary>Reads a JSONL manifest; blank lines are skipped; errors name the file and line.</summary>
    public static IReadOnlyList<ScoreRequest> FromManifest(string manifestPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(manifestPath);
        if (!File.Exists(manifestPath))
        {
            throw new FileNotFoundException($"manifest not found: {manifestPath}", manifestPath);
        }

        var baseDir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var requests = new List<ScoreRequest>();
        // Strict UTF-8: a byte that is not UTF-8 is an error naming the line, never a silently altered prompt.
        foreach (var line in Data.Utf8Lines.Read(manifestPath))
        {
            long lineNo = line.Line;
            if (line.IsBlank)
            {
                continue;
            }

            string? prompt, image;
            try
            {
                using var doc = JsonDocument.Parse(line.Bytes);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new UserInputException($"{manifestPath}:{lineNo}", "each line must be a JSON object {\"prompt\": ..., \"image\": ...}");
                }

                prompt = doc.RootElement.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
                image = doc.RootElement.TryGetProperty("image", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : null;
            }
            catch (InvalidOperationException ex)
            {
                // A lone surrogate escape ("\ud800") is valid JSON but not text.
                throw new UserInputException($"{manifestPath}:{lineNo}", $"a string is not valid Unicode text ({ex.Message})", ex);
            }
            catch (JsonException ex)
            {
                throw new UserInputException($"{manifestPath}:{lineNo}", $"invalid JSON ({ex.Message})", ex);
            }

            if (prompt is null)
            {
                throw new UserInputException($"{manifestPath}:{lineNo}", "missing string field \"prompt\"");
            }

            if (string.IsNullOrEmpty(image))
            {
                throw new UserInputException($"{manifestPath}:{lineNo}", "missing string field \"image\"");
            }

            requests.Add(new ScoreRequest(prompt, ImageInput.FromPath(Path.IsPathRooted(image) ? image : Path.Combine(baseDir, image))));
        }

        return requests;
    }

    /// <summary>
    /// Every image in <paramref name="folder"/> (not recursive, sorted by name) that has a <c>.txt</c> sidecar; the
    /// prompt is the sidecar's text without its trailing line break. Images without a sidecar are an error naming them.
    /// </summary>
    public static IReadOnlyList<ScoreRequest> FromFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"folder not found: {folder}");
        }

        var images = Directory.EnumerateFiles(folder)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f)))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (images.Count == 0)
        {
            throw new UserInputException(folder, "the folder holds no images (.png, .jpg, .jpeg, .webp, .bmp, .gif)");
        }

        var missing = images.Where(i => !File.Exists(Path.ChangeExtension(i, ".txt"))).ToList();
        if (missing.Count > 0)
        {
            throw new UserInputException(folder, $"{missing.Count} image(s) have no .txt prompt sidecar, e.g. {Path.GetFileName(missing[0])}");
        }

        return images.Select(i => new ScoreRequest(File.ReadAllText(Path.ChangeExtension(i, ".txt")).TrimEnd('\r', '\n'), ImageInput.FromPath(i))).ToList();
    }
}
