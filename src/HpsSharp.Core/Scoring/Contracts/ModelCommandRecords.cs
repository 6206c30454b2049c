using System.Text.Json.Serialization;

namespace HpsSharp.Core.Scoring.Contracts;

/// <summary>One file of <c>hps model download --json</c>.</summary>
/// <param name="Repo">The hub repository it came from.</param>
/// <param name="File">Its name in the repository.</param>
/// <param name="Path">Where it lies in the local snapshot.</param>
/// <param name="Size">Its size in bytes.</param>
/// <param name="Downloaded">Whether this run fetched it (false: it was already there).</param>
/// <param name="Verified">Whether its hash was checked against the hub's.</param>
public sealed record ModelDownloadFileRecord(string Repo, string File, string Path, long Size, bool Downloaded, bool Verified);

/// <summary><c>hps model download --json</c>: the model folder, the commits and every file.</summary>
/// <param name="ModelDir">The folder <c>--model</c> takes.</param>
/// <param name="Commit">The resolved commit of the repository.</param>
/// <param name="BaseCommit">The resolved commit of the base model's repository, when there is one.</param>
/// <param name="Files">The files, in download order.</param>
/// <param name="MissingOptional">Optional files the repository does not have.</param>
public sealed record ModelDownloadDocument(
    string ModelDir,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Commit,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? BaseCommit,
    IReadOnlyList<ModelDownloadFileRecord> Files,
    IReadOnlyList<string> MissingOptional);

/// <summary>One output file of <c>hps model convert --json</c>.</summary>
/// <param name="File">Its name in the output folder.</param>
/// <param name="Tensors">How many tensors it holds.</param>
/// <param name="Bytes">Its size in bytes.</param>
public sealed record ModelConvertFileRecord(string File, int Tensors, long Bytes);

/// <summary><c>hps model convert --json</c>: what was (or, with <c>--dry-run</c>, would be) written.</summary>
/// <param name="DryRun">Whether nothing was written.</param>
/// <param name="OutputDir">The output folder.</param>
/// <param name="Tensors">Tensors in all.</param>
/// <param name="TotalBytes">Bytes in all.</param>
/// <param name="Files">The shards.</param>
/// <param name="Index">The shard index file, or null for a single file.</param>
/// <param name="Copied">Side files copied along (config, tokenizer).</param>
public sealed record ModelConvertDocument(
    bool DryRun,
    string OutputDir,
    int Tensors,
    long TotalBytes,
    IReadOnlyList<ModelConvertFileRecord> Files,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Index,
    IReadOnlyList<string> Copied);
