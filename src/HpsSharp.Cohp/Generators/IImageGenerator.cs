namespace HpsSharp.Cohp.Generators;

/// <summary>
/// A text-to-image server. Size, steps, guidance, sampler and negative prompt come from the generator's
/// <see cref="GeneratorSpec"/>; a request carries what changes per image. Implementations retry transient
/// failures and throw <see cref="GeneratorException"/> naming the backend when they give up.
/// </summary>
public interface IImageGenerator : IDisposable
{
    /// <summary>The settings this generator was made from.</summary>
    GeneratorSpec Spec { get; }

    /// <summary>Generates one image for the prompt with the given seed.</summary>
    Task<GeneratedImage> TextToImageAsync(string prompt, long seed, CancellationToken cancellationToken = default);

    /// <summary>Generates one image from <paramref name="initImage"/> (encoded bytes); strength 0 keeps it, 1 replaces it.</summary>
    Task<GeneratedImage> ImageToImageAsync(string prompt, long seed, ReadOnlyMemory<byte> initImage, double strength, CancellationToken cancellationToken = default);
}

/// <summary>An encoded image returned by a server.</summary>
public sealed record GeneratedImage(byte[] Bytes)
{
    /// <summary>The file extension for the encoded format (png, jpg, webp), or null when the bytes are no known image.</summary>
    public string? Extension => ImageFormat.Extension(Bytes);
}

/// <summary>Recognises encoded images by their magic bytes.</summary>
public static class ImageFormat
{
    /// <summary>"png", "jpg" or "webp"; null for anything else.</summary>
    public static string? Extension(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G')
        {
            return "png";
        }

        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        {
            return "jpg";
        }

        if (b.Length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E' && b[10] == 'B' && b[11] == 'P')
        {
            return "webp";
        }

        return null;
    }
}

/// <summary>Creates the backend for a generators-file entry.</summary>
public static class GeneratorFactory
{
    /// <summary>An A1111 or ComfyUI client for <paramref name="spec"/>; <paramref name="handler"/> replaces the HTTP stack (tests).</summary>
    public static IImageGenerator Create(GeneratorSpec spec, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Kind switch
        {
            GeneratorKind.A1111 => new A1111Generator(spec, handler),
            GeneratorKind.ComfyUi => new ComfyUiGenerator(spec, handler),
            _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "unknown generator kind"),
        };
    }
}
