namespace HpsSharp.Core.Scoring;

/// <summary>
/// An image to score: a file path, encoded bytes (PNG, JPEG, WebP, BMP, GIF), or raw interleaved RGB pixels.
/// Exactly one of <see cref="Path"/>, <see cref="Bytes"/> or <see cref="Rgb"/> is set.
/// </summary>
public sealed class ImageInput
{
    private ImageInput(string? path, ReadOnlyMemory<byte>? bytes, ReadOnlyMemory<byte>? rgb, int width, int height, string name)
    {
        Path = path;
        Bytes = bytes;
        Rgb = rgb;
        Width = width;
        Height = height;
        Name = name;
    }

    /// <summary>A file path, when the image comes from a file.</summary>
    public string? Path { get; }

    /// <summary>Encoded image bytes, when the image comes from memory.</summary>
    public ReadOnlyMemory<byte>? Bytes { get; }

    /// <summary>Raw RGB bytes (row-major, 3 bytes per pixel), when the image is already decoded.</summary>
    public ReadOnlyMemory<byte>? Rgb { get; }

    /// <summary>Width of a raw RGB image; 0 otherwise.</summary>
    public int Width { get; }

    /// <summary>Height of a raw RGB image; 0 otherwise.</summary>
    public int Height { get; }

    /// <summary>How the image is named in messages and results (the path, or a caller-chosen name).</summary>
    public string Name { get; }

    /// <summary>An image read from a file when it is scored.</summary>
    public static ImageInput FromPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new ImageInput(path, null, null, 0, 0, path);
    }

    /// <summary>An encoded image held in memory.</summary>
    public static ImageInput FromBytes(ReadOnlyMemory<byte> bytes, string? name = null) =>
        new(null, bytes, null, 0, 0, name ?? "<bytes>");

    /// <summary>A decoded RGB image: <paramref name="rgb"/> holds width·height·3 bytes, row-major.</summary>
    public static ImageInput FromRgb(ReadOnlyMemory<byte> rgb, int width, int height, string? name = null)
    {
        if (width <= 0 || height <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"RGB image '{name ?? "<rgb>"}' has size {width}x{height}; both must be positive.");
        }

        if ((long)width * height * 3 != rgb.Length)
        {
            throw new ArgumentException($"RGB image '{name ?? "<rgb>"}' has {rgb.Length} bytes but {width}x{height}x3 = {(long)width * height * 3} were expected.", nameof(rgb));
        }

        return new ImageInput(null, null, rgb, width, height, name ?? "<rgb>");
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
