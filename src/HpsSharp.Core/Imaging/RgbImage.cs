namespace HpsSharp.Core.Imaging;

/// <summary>
/// A decoded 8-bit RGB image: <paramref name="Pixels"/> holds <paramref name="Width"/>·<paramref name="Height"/>·3
/// bytes, row-major, interleaved R, G, B (the layout of numpy's <c>np.asarray(pil_image)</c>).
/// </summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    /// <summary>Checks the size against the buffer.</summary>
    public void Validate()
    {
        if (Width <= 0 || Height <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Width), $"RGB image size {Width}x{Height}: both must be positive.");
        }

        ArgumentNullException.ThrowIfNull(Pixels);
        if ((long)Width * Height * 3 != Pixels.Length)
        {
            throw new ArgumentException($"RGB image {Width}x{Height} needs {(long)Width * Height * 3} bytes but has {Pixels.Length}.", nameof(Pixels));
        }
    }
}
