using System.Text.Json;

namespace HpsSharp.Core.Safetensors;

/// <summary>
/// The weights of a model: one safetensors file, or shards listed by a <c>model.safetensors.index.json</c>.
/// Opening a folder looks for <c>HPSv3.safetensors</c>, then <c>model.safetensors</c>, then
/// <c>model.safetensors.index.json</c>.
/// </summary>
public sealed class SafetensorsModel : IDisposable
{
    /// <summary>Weight file names looked for in a model folder, in order.</summary>
    public static readonly IReadOnlyList<string> FolderCandidates = ["HPSv3.safetensors", "model.safetensors", "model.safetensors.index.json"];

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _fileOf;

    private SafetensorsModel(string source, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> fileOf, IReadOnlyList<TensorInfo> tensors)
    {
        Source = source;
        _files = files;
        _fileOf = fileOf;
        Tensors = tensors;
    }

    /// <summary>The file or index this was opened from.</summary>
    public string Source { get; }

    /// <summary>The shard files (one for an unsharded model).</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>All tensors of all shards.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Total bytes of tensor data.</summary>
    public long TotalBytes => Tensors.Sum(t => t.ByteLength);

    public TensorInfo this[string name] => FileOf(name)[name];

    public bool Contains(string name) => _fileOf.ContainsKey(name);

    /// <summary>The shard that holds <paramref name="name"/>.</summary>
    public SafetensorsFile FileOf(string name) => _fileOf.TryGetValue(name, out var f)
        ? f
        : throw new SafetensorsException(Source, $"no tensor named '{name}'");

    /// <summary>Finds the weights file of a model folder (see <see cref="FolderCandidates"/>); null when there is none.</summary>
    public static string? FindWeights(string folder)
    {
        foreach (var c in FolderCandidates)
        {
            var p = Path.Combine(folder, c);
            if (File.Exists(p))
            {
                return p;
            }
        }

        return null;
    }

    /// <summary>Opens a single file, a shard index, or a model folder.</summary>
    public static SafetensorsModel Open(string pathOrFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathOrFolder);
        var full = Path.GetFullPath(pathOrFolder);
        if (Directory.Exists(full))
        {
            var found = FindWeights(full) ?? throw new FileNotFoundException(
                $"no weights in {full}: expected one of {string.Join(", ", FolderCandidates)}", full);
            full = found;
        }

        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"weights not found: {full}", full);
        }

        if (full.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return OpenIndex(full);
        }

        var file = SafetensorsFile.Open(full);
        return new SafetensorsModel(full, [file], file.Tensors.ToDictionary(t => t.Name, _ => file, StringComparer.Ordinal), file.Tensors);
    }

    private static SafetensorsModel OpenIndex(string indexPath)
    {
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsException(indexPath, "shard index has no 'weight_map' object");
            }

            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafetensorsException(indexPath, $"weight_map entry '{p.Name}' must name a shard file");
                }

                weightMap[p.Name] = p.Value.GetString()!;
            }
        }
        catch (JsonException ex)
        {
            throw new SafetensorsException(indexPath, $"shard index is not valid JSON: {ex.Message}", ex);
        }

        var dir = Path.GetDirectoryName(indexPath)!;
        var files = new List<SafetensorsFile>();
        var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in weightMap.Values.Distinct(StringComparer.Ordinal))
            {
                if (shard.Contains('/', StringComparison.Ordinal) || shard.Contains('\\', StringComparison.Ordinal) || shard is "." or "..")
                {
                    throw new SafetensorsException(indexPath, $"shard name '{shard}' must be a file name in the index's folder");
                }

                var shardPath = Path.Combine(dir, shard);
                if (!File.Exists(shardPath))
                {
                    throw new SafetensorsException(indexPath, $"shard '{shard}' listed in the index is missing");
                }

                var f = SafetensorsFile.Open(shardPath);
                files.Add(f);
                byShard[shard] = f;
            }

            var fileOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            var tensors = new List<TensorInfo>();
            foreach (var (name, shard) in weightMap)
            {
                var f = byShard[shard];
                if (!f.Contains(name))
                {
                    throw new SafetensorsException(indexPath, $"tensor '{name}' is mapped to shard '{shard}', which does not contain it");
                }

                fileOf[name] = f;
                tensors.Add(f[name]);
            }

            foreach (var f in files)
            {
                foreach (var t in f.Tensors)
                {
                    if (!fileOf.TryGetValue(t.Name, out var owner))
                    {
                        throw new SafetensorsException(indexPath, $"shard '{Path.GetFileName(f.Path)}' holds tensor '{t.Name}', which the index does not list");
                    }

                    if (!ReferenceEquals(owner, f))
                    {
                        throw new SafetensorsException(indexPath, $"tensor '{t.Name}' appears in more than one shard");
                    }
                }
            }

            return new SafetensorsModel(indexPath, files, fileOf, tensors);
        }
        catch
        {
            foreach (var f in files)
            {
                f.Dispose();
            }

            throw;
        }
    }

    public void Dispose()
    {
        foreach (var f in _files)
        {
            f.Dispose();
        }
    }
}
