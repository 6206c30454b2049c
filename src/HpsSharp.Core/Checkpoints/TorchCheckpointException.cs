namespace HpsSharp.Core.Checkpoints;

/// <summary>A <c>torch.save</c> file that cannot be read: not a checkpoint, damaged, or holding objects the restricted reader refuses.</summary>
public sealed class TorchCheckpointException : HpsException
{
    /// <summary>Names the file and what is wrong with it.</summary>
    public TorchCheckpointException(string path, string reason, Exception? inner = null)
        : base($"{path}: {reason}", inner)
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The checkpoint file.</summary>
    public string Path { get; }

    /// <summary>What is wrong, without the path.</summary>
    public string Reason { get; }
}
