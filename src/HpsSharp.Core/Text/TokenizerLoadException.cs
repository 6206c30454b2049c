namespace HpsSharp.Core.Text;

/// <summary>Tokenizer files are missing, unreadable or not a Qwen2 byte-level BPE tokenizer.</summary>
public sealed class TokenizerLoadException : HpsException
{
    public TokenizerLoadException(string path, string reason, Exception? inner = null)
        : base($"tokenizer '{path}': {reason}", inner)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The folder or file that could not be used.</summary>
    public string Path { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
