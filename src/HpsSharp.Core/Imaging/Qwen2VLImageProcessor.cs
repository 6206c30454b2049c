using System.Buffers;
using System.Globalization;
using HpsSharp.Core.Scoring;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HpsSharp.Core.Imaging;

/// <summary>Pixel budget and decoding limit of the image pipeline.</summary>
/// <param name="MinPixels">smart_resize lower bound on h̄·w̄ (HPSv3: 200704 = 256·28²).</param>
/// <param name="MaxPixels">smart_resize upper bound on h̄·w̄ (HPSv3: 200704; it fixes min = max).</param>
/// <param name="MaxDecodedPixels">Largest width·height accepted from an image header, refused before decoding.</param>
public sealed record ImageProcessorOptions(int MinPixels = SmartResize.Hpsv3Pixels, int MaxPixels = SmartResize.Hpsv3Pixels, long MaxDecodedPixels = 100_000_000);

/// <summary>
/// The model input for one image: <see cref="PixelValues"/> is row-major [<see cref="Rows"/>, 1176] float32 with
/// rows in 2×2 merge-window order; the grid is <c>image_grid_thw</c>.
/// </summary>
public sealed record ProcessedImage(float[] PixelValues, int Rows, int GridT, int GridH, int GridW)
{
    /// <summary>Elements per patch row: channels·temporal_patch·patch² = 3·2·14·14.</summary>
    public const int RowLength = 1176;

    /// <summary>Image tokens the language model sees (one per 2×2 merge window): GridT·GridH·GridW/4.</summary>
    public int MergedTokens => GridT * GridH * GridW / 4;

    /// <summary>Resized height in pixels (GridH·14).</summary>
    public int Height => GridH * Qwen2VLImageProcessor.PatchSize;

    /// <summary>Resized width in pixels (GridW·14).</summary>
    public int Width => GridW * Qwen2VLImageProcessor.PatchSize;
}

/// <summary>
/// HPSv3's image path, exactly: decode and <c>convert("RGB")</c> (<see cref="ImageDecoder"/>), smart_resize (factor
/// 28), Pillow bicubic resize, the HF <c>Qwen2VLImageProcessor</c> (transformers 4.45.2, slow) rescale and CLIP
/// normalisation, temporal duplication and patchify (docs/preprocessing.md). Thread-safe; one instance can
/// serve concurrent callers.
/// </summary>
public sealed class Qwen2VLImageProcessor
{
    /// <summary>Vision patch side in pixels.</summary>
    public const int PatchSize = 14;

    /// <summary>Patches per side of a merge window.</summary>
    public const int MergeSize = 2;

    /// <summary>Frames per temporal patch; a still image is duplicated.</summary>
    public const int TemporalPatchSize = 2;

    /// <summary>smart_resize factor = patch · merge.</summary>
    public const int Factor = PatchSize * MergeSize;

    // The HF processor re-runs smart_resize with its preprocessor_config.json limits; for HPSv3's budget it is a no-op.
    private const int ProcessorMinPixels = 3136;
    private const int ProcessorMaxPixels = 12845056;

    // numpy rounds the Python floats (doubles) to float32: cast the double literals, as it does.

    /// <summary>OPENAI_CLIP_MEAN as float32.</summary>
    public static readonly IReadOnlyList<float> ImageMean = [(float)0.48145466, (float)0.4578275, (float)0.40821073];

    /// <summary>OPENAI_CLIP_STD as float32.</summary>
    public static readonly IReadOnlyList<float> ImageStd = [(float)0.26862954, (float)0.26130258, (float)0.27577711];

    // Normalised value of each (channel, byte): float32(v · (1/255) in double), then (x − mean) / std in float32.
    private static readonly float[] NormTable = BuildNormTable();

    private readonly ILogger _logger;

    public Qwen2VLImageProcessor(ImageProcessorOptions? options = null, ILogger? logger = null)
    {
        Options = options ?? new ImageProcessorOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MinPixels);
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxPixels, Options.MinPixels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MaxDecodedPixels);
        _logger = logger ?? NullLogger.Instance;
    }

    public ImageProcessorOptions Options { get; }

    /// <summary>Decodes, resizes and patchifies one image.</summary>
    /// <exception cref="ImageDecodeException">The image cannot be read, or its size or aspect ratio is refused.</exception>
    public ProcessedImage Process(ImageInput image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var frame = ImageDecoder.DecodeFrame(image, Options.MaxDecodedPixels);
        LogNotes(image.Name, frame.Notes);
        return ResizeAndPatchify(frame.Pixels.Span, frame.Width, frame.Height, frame.PixelStride, image.Name);
    }

    /// <summary>Resizes and patchifies an already decoded RGB image.</summary>
    public ProcessedImage Process(RgbImage image, string source = "<rgb>")
    {
        ArgumentNullException.ThrowIfNull(image);
        image.Validate();
        return ResizeAndPatchify(image.Pixels, image.Width, image.Height, 3, source);
    }

    /// <summary>The resized RGB image the model sees (the <c>resized_rgb_u8</c> of the fixtures): decode, smart_resize, bicubic.</summary>
    public RgbImage Resize(ImageInput image)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var frame = ImageDecoder.DecodeFrame(image, Options.MaxDecodedPixels);
        var (h, w) = TargetSize(frame.Height, frame.Width, image.Name);
        var output = new byte[h * w * 3];
        ResizeTwice(frame.Pixels.Span, frame.Width, frame.Height, frame.PixelStride, output, w, h);
        return new RgbImage(w, h, output);
    }

    /// <summary>The (height, width) an image of the given size is resized to under these options.</summary>
    /// <exception cref="ImageDecodeException">The aspect ratio is over 200.</exception>
    public (int Height, int Width) TargetSize(int height, int width, string source = "<image>")
    {
        // Only the aspect ratio is the image's own fault; any other argument SmartResize refuses (a zero size, a
        // budget below one patch) is a caller's bug and propagates as such instead of passing as a bad image.
        if (height > 0 && width > 0 && SmartResize.AspectRatio(height, width) is var ratio && ratio > SmartResize.MaxAspectRatio)
        {
            throw new ImageDecodeException(source, string.Create(CultureInfo.InvariantCulture,
                $"cannot be used as model input: absolute aspect ratio must be smaller than {SmartResize.MaxAspectRatio}, got {ratio:0.###} ({width}x{height})"));
        }

        var (h, w) = SmartResize.Compute(height, width, Factor, Options.MinPixels, Options.MaxPixels);
        // The HF processor's own smart_resize, with its preprocessor_config.json limits.
        return SmartResize.Compute(h, w, Factor, ProcessorMinPixels, ProcessorMaxPixels);
    }

    private ProcessedImage ResizeAndPatchify(ReadOnlySpan<byte> pixels, int width, int height, int stride, string source)
    {
        var (h, w) = TargetSize(height, width, source);
        byte[] resized = ArrayPool<byte>.Shared.Rent(h * w * 3);
        try
        {
            ResizeTwice(pixels, width, height, stride, resized, w, h);
            return Patchify(new ReadOnlySpan<byte>(resized, 0, h * w * 3), w, h);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(resized);
        }
    }

    /// <summary>qwen-vl-utils' resize to the HPSv3 budget, then the processor's resize (a no-op unless the budget exceeds the processor's limits).</summary>
    private void ResizeTwice(ReadOnlySpan<byte> pixels, int width, int height, int stride, Span<byte> dst, int w, int h)
    {
        var (h1, w1) = SmartResize.Compute(height, width, Factor, Options.MinPixels, Options.MaxPixels);
        if (h1 == h && w1 == w)
        {
            PillowBicubic.Resize(pixels, width, height, stride, dst, w, h);
            return;
        }

        byte[] first = ArrayPool<byte>.Shared.Rent(h1 * w1 * 3);
        try
        {
            PillowBicubic.Resize(pixels, width, height, stride, first, w1, h1);
            PillowBicubic.Resize(first, w1, h1, 3, dst, w, h);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(first);
        }
    }

    /// <summary>
    /// Rescale, normalise and patchify a resized RGB image (height and width multiples of 28) into
    /// <c>pixel_values</c>: row p, element e = frame[t][c][row·14 + ph][col·14 + pw] with the closed form of
    /// docs/preprocessing.md; both temporal copies are the same frame.
    /// </summary>
    public static ProcessedImage Patchify(ReadOnlySpan<byte> rgb, int width, int height)
    {
        if (width <= 0 || height <= 0 || width % Factor != 0 || height % Factor != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"size {width}x{height} must be positive multiples of {Factor}");
        }

        if (rgb.Length < width * height * 3)
        {
            throw new ArgumentException($"{width}x{height} RGB needs {width * height * 3} bytes, got {rgb.Length}", nameof(rgb));
        }

        int gh = height / PatchSize;
        int gw = width / PatchSize;
        int rows = gh * gw;
        var output = GC.AllocateUninitializedArray<float>(rows * ProcessedImage.RowLength);
        var norm = NormTable.AsSpan();
        int rowBytes = width * 3;
        int p = 0;
        for (int br = 0; br < gh / MergeSize; br++)
        {
            for (int bc = 0; bc < gw / MergeSize; bc++)
            {
                for (int q = 0; q < 4; q++, p++)
                {
                    int row = br * MergeSize + (q >> 1);
                    int col = bc * MergeSize + (q & 1);
                    var dst = output.AsSpan(p * ProcessedImage.RowLength, ProcessedImage.RowLength);
                    int origin = row * PatchSize * rowBytes + col * PatchSize * 3;
                    for (int c = 0; c < 3; c++)
                    {
                        var table = norm.Slice(c * 256, 256);
                        var plane = dst.Slice(c * 392, 196);
                        for (int ph = 0; ph < PatchSize; ph++)
                        {
                            var line = rgb.Slice(origin + ph * rowBytes + c, PatchSize * 3 - 2);
                            var outLine = plane.Slice(ph * PatchSize, PatchSize);
                            for (int pw = 0; pw < PatchSize; pw++)
                            {
                                outLine[pw] = table[line[pw * 3]];
                            }
                        }

                        // The second temporal frame is the same image.
                        plane.CopyTo(dst.Slice(c * 392 + 196, 196));
                    }
                }
            }
        }

        return new ProcessedImage(output, rows, 1, gh, gw);
    }

    private static float[] BuildNormTable()
    {
        var table = new float[3 * 256];
        for (int c = 0; c < 3; c++)
        {
            float mean = ImageMean[c];
            float std = ImageStd[c];
            for (int v = 0; v < 256; v++)
            {
                float x = (float)(v * (1.0 / 255.0));
                table[c * 256 + v] = (x - mean) / std;
            }
        }

        return table;
    }

    private void LogNotes(string source, DecodeNotes notes)
    {
        if (notes == DecodeNotes.None || !_logger.IsEnabled(LogLevel.Warning))
        {
            return;
        }

        if (notes.HasFlag(DecodeNotes.ExifOrientationIgnored))
        {
            ImagingLog.ExifOrientation(_logger, source);
        }

        if (notes.HasFlag(DecodeNotes.AlphaDropped))
        {
            ImagingLog.AlphaDropped(_logger, source);
        }

        if (notes.HasFlag(DecodeNotes.SixteenBit))
        {
            ImagingLog.SixteenBit(_logger, source);
        }

        if (notes.HasFlag(DecodeNotes.Cmyk))
        {
            ImagingLog.Cmyk(_logger, source);
        }
    }
}

internal static partial class ImagingLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Image '{Source}' has an EXIF orientation; like HPSv3 it is scored in stored orientation (not rotated).")]
    public static partial void ExifOrientation(ILogger logger, string source);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Image '{Source}' has transparency; like HPSv3 the alpha channel is dropped without compositing.")]
    public static partial void AlphaDropped(ILogger logger, string source);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Image '{Source}' has 16-bit samples; reduced to 8 bits as Pillow does (16-bit grey saturates at 255).")]
    public static partial void SixteenBit(ILogger logger, string source);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Image '{Source}' is a CMYK JPEG; converted without colour management.")]
    public static partial void Cmyk(ILogger logger, string source);
}
