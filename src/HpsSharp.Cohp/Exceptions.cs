using HpsSharp.Core;

namespace HpsSharp.Cohp;

/// <summary>A generators file is malformed: names the file, the entry (when known) and what is wrong.</summary>
public sealed class GeneratorConfigException : HpsException
{
    public GeneratorConfigException(string path, string? generator, string reason, Exception? inner = null)
        : base($"generators file '{path}'{(generator is null ? string.Empty : $", generator '{generator}'")}: {reason}", inner)
    {
        Path = path;
        Generator = generator;
        Reason = reason;
    }

    /// <summary>The generators file.</summary>
    public string Path { get; }

    /// <summary>The entry's name (or index) when the problem is inside one entry.</summary>
    public string? Generator { get; }

    /// <summary>What is wrong.</summary>
    public string Reason { get; }
}

/// <summary>A generation server failed (after retries): names the backend, its URL and the operation.</summary>
public sealed class GeneratorException : HpsException
{
    public GeneratorException(string generator, string url, string operation, string reason, Exception? inner = null)
        : base($"generator '{generator}' ({url}) {operation}: {reason}", inner)
    {
        Generator = generator;
        Url = url;
        Operation = operation;
        Reason = reason;
    }

    /// <summary>The generator's name from the generators file.</summary>
    public string Generator { get; }

    /// <summary>The server's base URL.</summary>
    public string Url { get; }

    /// <summary>What was asked: "txt2img" or "img2img".</summary>
    public string Operation { get; }

    /// <summary>What went wrong.</summary>
    public string Reason { get; }
}

/// <summary>The CoHP run cannot go on: every generator failed in the model stage, or the run folder belongs to another run.</summary>
public sealed class CohpException : HpsException
{
    public CohpException(string runFolder, string reason, IReadOnlyDictionary<string, string>? generatorErrors = null)
        : base($"CoHP run '{runFolder}': {reason}")
    {
        RunFolder = runFolder;
        Reason = reason;
        GeneratorErrors = generatorErrors ?? new Dictionary<string, string>();
    }

    /// <summary>The run folder.</summary>
    public string RunFolder { get; }

    /// <summary>What went wrong.</summary>
    public string Reason { get; }

    /// <summary>Per generator, the error that made it fail (model stage).</summary>
    public IReadOnlyDictionary<string, string> GeneratorErrors { get; }
}
