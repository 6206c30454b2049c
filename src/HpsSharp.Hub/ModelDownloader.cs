using System.Text.Json;
using System.Text.Json.Serialization;

namespace HpsSharp.Hub;

/// <summary>What <see cref="ModelDownloader"/> fetches and where it assembles the model folder.</summary>
public sealed record ModelDownloadOptions
{
    /// <summary>The HPSv3 repository.</summary>
    public string Repo { get; init; } = ModelDownloader.HpsRepo;

    /// <summary>Revision of <see cref="Repo"/>.</summary>
    public string Revision { get; init; } = "main";

    /// <summary>The weights file in <see cref="Repo"/>.</summary>
    public string WeightsFile { get; init; } = "HPSv3.safetensors";

    /// <summary>The base model whose config, tokenizer and processor files go beside the weights.</summary>
    public string BaseRepo { get; init; } = ModelDownloader.QwenRepo;

    /// <summary>Revision of <see cref="BaseRepo"/>.</summary>
    public string BaseRevision { get; init; } = "main";

    /// <summary>The assembled folder; default <c>$HF_HOME/hpssharp/models/hpsv3-{commit}-qwen2-vl-{commit}</c>.</summary>
    public string? OutputDir { get; init; }

    /// <summary>Hash files already in the cache against the hub's checksums too.</summary>
    public bool Verify { get; init; }
}

/// <summary>The result of <see cref="ModelDownloader.DownloadAsync"/>.</summary>
/// <param name="ModelDir">The folder to pass to <c>--model</c>.</param>
/// <param name="Commit">The commit of the HPSv3 repository.</param>
/// <param name="BaseCommit">The commit of the base repository.</param>
/// <param name="Files">Every file linked into <paramref name="ModelDir"/>.</param>
/// <param name="Missing">Optional base files the hub does not have at that revision.</param>
public sealed record ModelDownloadResult(string ModelDir, string Commit, string BaseCommit, IReadOnlyList<CachedFile> Files, IReadOnlyList<string> Missing);

/// <summary>
/// Fetches the released HPSv3 checkpoint and the small files of its Qwen2-VL base (never the base weight shards,
/// which the checkpoint replaces) into the shared cache, then assembles a model folder of links into the snapshots.
/// </summary>
public static class ModelDownloader
{
    public const string HpsRepo = "MizzenAI/HPSv3";
    public const string QwenRepo = "Qwen/Qwen2-VL-7B-Instruct";

    /// <summary>Base files a model folder needs.</summary>
    public static readonly IReadOnlyList<string> RequiredBaseFiles = ["config.json", "tokenizer_config.json"];

    /// <summary>Tokenizer files: <c>tokenizer.json</c>, or <c>vocab.json</c> + <c>merges.txt</c>, is required (all three when present).</summary>
    public static readonly IReadOnlyList<string> TokenizerFiles = ["tokenizer.json", "vocab.json", "merges.txt"];

    /// <summary>Base files used when present.</summary>
    public static readonly IReadOnlyList<string> OptionalBaseFiles = ["preprocessor_config.json", "chat_template.json", "generation_config.json"];

    /// <summary>Name of the provenance file written into the assembled folder.</summary>
    public const string SourceFileName = "hpssharp-source.json";

    public static async Task<ModelDownloadResult> DownloadAsync(HubClient client, ModelDownloadOptions options, IProgress<DownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        var files = new List<(string Name, CachedFile File)>();
        var missing = new List<string>();

        // Small files first: a bad token or a wrong revision fails in a second, not after 16 GB.
        foreach (var name in RequiredBaseFiles.Concat(TokenizerFiles).Concat(OptionalBaseFiles))
        {
            bool optional = !RequiredBaseFiles.Contains(name);
            try
            {
                var f = await client.DownloadAsync(options.BaseRepo, name, options.BaseRevision, progress, options.Verify, cancellationToken).ConfigureAwait(false);
                files.Add((name, f));
            }
            catch (HubException ex) when (optional && ex.Kind is HubErrorKind.EntryNotFound or HubErrorKind.NotCached)
            {
                missing.Add(name);
            }
        }

        var have = files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        if (!have.Contains("tokenizer.json") && !(have.Contains("vocab.json") && have.Contains("merges.txt")))
        {
            throw new HubException(HubErrorKind.EntryNotFound, options.BaseRepo, "tokenizer.json", options.BaseRevision, null,
                "the repository has neither tokenizer.json nor vocab.json + merges.txt: no tokenizer to assemble a model folder with");
        }

        var weights = await client.DownloadAsync(options.Repo, options.WeightsFile, options.Revision, progress, options.Verify, cancellationToken).ConfigureAwait(false);
        files.Add((Path.GetFileName(options.WeightsFile), weights));
        var baseCommit = files[0].File.CommitHash;

        var dir = options.OutputDir ?? Path.Combine(client.Options.HfHome, "hpssharp", "models",
            $"hpsv3-{weights.CommitHash[..12]}-{ShortName(options.BaseRepo)}-{baseCommit[..12]}");
        dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(dir);
        foreach (var (name, file) in files)
        {
            var link = Path.Combine(dir, name);
            var target = Path.GetRelativePath(dir, file.SnapshotPath);
            if (new FileInfo(link).LinkTarget != target || !File.Exists(link))
            {
                Links.ReplaceWithSymlink(link, target);
            }
        }

        foreach (var name in missing)
        {
            // A stale link to a file the revision no longer has would be read as if it belonged to it.
            var stale = Path.Combine(dir, name);
            if (new FileInfo(stale).LinkTarget is not null)
            {
                File.Delete(stale);
            }
        }

        var source = new ModelSource(options.Repo, options.Revision, weights.CommitHash, options.WeightsFile,
            options.BaseRepo, options.BaseRevision, baseCommit, client.Options.Endpoint,
            files.Select(f => new ModelSourceFile(f.Name, f.File.Repo, f.File.File, f.File.Size)).ToList());
        AtomicFile.WriteAllText(Path.Combine(dir, SourceFileName), JsonSerializer.Serialize(source, HubJsonContext.Default.ModelSource));
        return new ModelDownloadResult(dir, weights.CommitHash, baseCommit, files.Select(f => f.File).ToList(), missing);
    }

    /// <summary>
    /// Downloads <paramref name="files"/> (paths inside <paramref name="repo"/>, e.g. a baseline scorer's checkpoint
    /// and config) into the cache and assembles <paramref name="outputDir"/> (default
    /// <c>$HF_HOME/hpssharp/models/&lt;name&gt;-&lt;commit&gt;</c>) with a link per file at the same relative path,
    /// plus <c>hpssharp-source.json</c>. Every file is required: a missing one fails with the hub's error.
    /// </summary>
    public static async Task<ModelDownloadResult> DownloadFilesAsync(HubClient client, string name, string repo, string revision, IReadOnlyList<string> files,
        string? outputDir, bool verify, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0)
        {
            throw new ArgumentException("at least one file is needed", nameof(files));
        }

        var got = new List<(string Name, CachedFile File)>();
        foreach (var file in files)
        {
            got.Add((file, await client.DownloadAsync(repo, file, revision, progress, verify, cancellationToken).ConfigureAwait(false)));
        }

        var commit = got[0].File.CommitHash;
        var dir = Path.GetFullPath(outputDir ?? Path.Combine(client.Options.HfHome, "hpssharp", "models", $"{name}-{commit[..12]}"));
        foreach (var (file, cached) in got)
        {
            var link = Path.Combine(dir, file);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            var target = Path.GetRelativePath(Path.GetDirectoryName(link)!, cached.SnapshotPath);
            if (new FileInfo(link).LinkTarget != target || !File.Exists(link))
            {
                Links.ReplaceWithSymlink(link, target);
            }
        }

        var source = new ModelSource(repo, revision, commit, files[0], repo, revision, commit, client.Options.Endpoint,
            got.Select(f => new ModelSourceFile(f.Name, f.File.Repo, f.File.File, f.File.Size)).ToList());
        AtomicFile.WriteAllText(Path.Combine(dir, SourceFileName), JsonSerializer.Serialize(source, HubJsonContext.Default.ModelSource));
        return new ModelDownloadResult(dir, commit, commit, got.Select(f => f.File).ToList(), []);
    }

    private static string ShortName(string repo) => repo[(repo.IndexOf('/', StringComparison.Ordinal) + 1)..].ToLowerInvariant();
}

/// <summary>Provenance of an assembled model folder (<c>hpssharp-source.json</c>).</summary>
public sealed record ModelSource(
    [property: JsonPropertyName("repo")] string Repo,
    [property: JsonPropertyName("revision")] string Revision,
    [property: JsonPropertyName("commit")] string Commit,
    [property: JsonPropertyName("weights")] string Weights,
    [property: JsonPropertyName("base_repo")] string BaseRepo,
    [property: JsonPropertyName("base_revision")] string BaseRevision,
    [property: JsonPropertyName("base_commit")] string BaseCommit,
    [property: JsonPropertyName("endpoint")] string Endpoint,
    [property: JsonPropertyName("files")] IReadOnlyList<ModelSourceFile> Files);

/// <summary>One file of <see cref="ModelSource"/>.</summary>
public sealed record ModelSourceFile(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("repo")] string Repo,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("size")] long Size);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(ModelSource))]
internal sealed partial class HubJsonContext : JsonSerializerContext;
