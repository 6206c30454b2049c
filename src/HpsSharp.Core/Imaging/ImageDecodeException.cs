namespace HpsSharp.Core.Imaging;

/// <summary>
/// An image could not be decoded or is not acceptable as model input: an empty or truncated file, data that is not an
/// image, an unsupported format, a zero or excessive size, or an aspect ratio the model refuses.
/// </summary>
public sealed class ImageDecodeException : HpsException
{
    public ImageDecodeException(string source, string reason, Exception? inner = null)
        : base($"image '{source}': {reason}", inner)
    {
        Source = source;
        Reason = reason;
    }

    /// <summary>The image's name: its path, or the name given to in-memory bytes.</summary>
    public new string Source { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
