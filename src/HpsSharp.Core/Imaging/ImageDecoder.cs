using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using HpsSharp.Core.Scoring;
using SkiaSharp;

namespace HpsSharp.Core.Imaging;

/// <summary>Facts about a decoded image that change what the model sees compared with a viewer (docs/quirks.md Q15).</summary>
[Flags]
public enum DecodeNotes
{
    None = 0,

    /// <summary>The file has an EXIF orientation other than 1; like HPSv3, the pixels are used in stored order.</summary>
    ExifOrientationIgnored = 1,

    /// <summary>The image has an alpha channel or a transparent colour; like Pillow's <c>convert("RGB")</c>, alpha is dropped without compositing.</summary>
    AlphaDropped = 2,

    /// <summary>16 bits per sample: high byte kept (RGB, RGBA, LA) or, for 16-bit grey, values saturated at 255 as Pillow does.</summary>
    SixteenBit = 4,

    /// <summary>A CMYK JPEG, converted without colour management.</summary>
    Cmyk = 8,
}

/// <summary>
/// Decodes an <see cref="ImageInput"/> to 8-bit RGB exactly as HPSv3's <c>PIL.Image.open(...).convert("RGB")</c> does
/// (docs/preprocessing.md): no EXIF rotation, no colour management (embedded ICC profiles and PNG gamma are
/// ignored), alpha dropped without compositing, grey and palette images expanded, 16-bit PNG samples reduced the way
/// Pillow does. PNG, JPEG, WebP, BMP and GIF (first frame) are decoded with SkiaSharp; anything else is refused.
/// </summary>
public static class ImageDecoder
{
    /// <summary>The default limit on width·height (100 megapixels), checked against the header before decoding.</summary>
    public const long DefaultMaxPixels = 100_000_000;

    /// <summary>Decodes a path, encoded bytes or raw RGB pixels to a new RGB image.</summary>
    /// <exception cref="ImageDecodeException">The image is missing, empty, truncated, corrupt, of an unsupported format, empty in size or over <paramref name="maxPixels"/>.</exception>
    public static RgbImage Decode(ImageInput image, long maxPixels = DefaultMaxPixels)
    {
        using var frame = DecodeFrame(image, maxPixels);
        return frame.ToRgbImage();
    }

    /// <summary>Decodes encoded image bytes; <paramref name="source"/> names them in errors.</summary>
    public static RgbImage Decode(ReadOnlyMemory<byte> encoded, string source, long maxPixels = DefaultMaxPixels)
    {
        using var frame = DecodeEncoded(encoded, source, maxPixels);
        return frame.ToRgbImage();
    }

    /// <summary>Decodes into a pooled buffer (RGBX, 4 bytes per pixel, or the caller's RGB) for the preprocessing pipeline.</summary>
    internal static DecodedFrame DecodeFrame(ImageInput image, long maxPixels)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPixels);
        if (image.Rgb is { } rgb)
        {
            CheckSize(image.Name, image.Width, image.Height, maxPixels);
            return new DecodedFrame(rgb, null, image.Width, image.Height, 3, ImageFileFormat.RawRgb, DecodeNotes.None);
        }

        if (image.Bytes is { } bytes)
        {
            return DecodeEncoded(bytes, image.Name, maxPixels);
        }

        string path = image.Path!;
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ImageDecodeException(path, "file not found", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ImageDecodeException(path, "cannot read the file: " + ex.Message, ex);
        }

        return DecodeEncoded(data, path, maxPixels);
    }

    private static void CheckSize(string source, long width, long height, long maxPixels)
    {
        if (width <= 0 || height <= 0)
        {
            throw new ImageDecodeException(source, $"the image has zero width or height ({width}x{height})");
        }

        if (width * height > maxPixels || width * height * 4 > Array.MaxLength)
        {
            throw new ImageDecodeException(
                source, $"the image is {width}x{height} = {width * height:N0} pixels, over the limit of {maxPixels:N0} pixels (raise the decoded-pixel limit to allow it)");
        }
    }

    internal static DecodedFrame DecodeEncoded(ReadOnlyMemory<byte> encoded, string source, long maxPixels)
    {
        var header = ImageHeader.Read(encoded.Span, source);
        if (header.HasSize)
        {
            CheckSize(source, header.Width, header.Height, maxPixels);
        }

        if (header.Format == ImageFileFormat.Gif && ImageHeader.GifWithoutFirstFrameTransparency(encoded.Span) is { } patched)
        {
            encoded = patched;
        }

        GCHandle pin = default;
        SKData? data = null;
        try
        {
            if (MemoryMarshal.TryGetArray(encoded, out var segment) && segment.Array is not null)
            {
                pin = GCHandle.Alloc(segment.Array, GCHandleType.Pinned);
                data = SKData.Create(pin.AddrOfPinnedObject() + segment.Offset, segment.Count);
            }
            else
            {
                data = SKData.CreateCopy(encoded.Span);
            }

            using var stream = new SKMemoryStream(data);
            using var codec = SKCodec.Create(stream, out var result);
            if (codec is null)
            {
                throw new ImageDecodeException(source, $"corrupt or truncated {FormatName(header.Format)} data: the decoder cannot read it ({Describe(result)})");
            }

            return DecodeWithCodec(codec, header, encoded.Span, source, maxPixels);
        }
        finally
        {
            data?.Dispose();
            if (pin.IsAllocated)
            {
                pin.Free();
            }
        }
    }

    private static DecodedFrame DecodeWithCodec(SKCodec codec, ImageHeader header, ReadOnlySpan<byte> encoded, string source, long maxPixels)
    {
        var format = codec.EncodedFormat switch
        {
            SKEncodedImageFormat.Png => ImageFileFormat.Png,
            SKEncodedImageFormat.Jpeg => ImageFileFormat.Jpeg,
            SKEncodedImageFormat.Webp => ImageFileFormat.WebP,
            SKEncodedImageFormat.Bmp => ImageFileFormat.Bmp,
            SKEncodedImageFormat.Gif => ImageFileFormat.Gif,
            var other => throw new ImageDecodeException(source, $"unsupported image format {other} (supported: PNG, JPEG, WebP, BMP, GIF)"),
        };
        int width = codec.Info.Width;
        int height = codec.Info.Height;
        CheckSize(source, width, height, maxPixels);

        var notes = DecodeNotes.None;
        if (codec.EncodedOrigin != SKEncodedOrigin.TopLeft)
        {
            notes |= DecodeNotes.ExifOrientationIgnored;
        }

        if (codec.Info.AlphaType != SKAlphaType.Opaque)
        {
            notes |= DecodeNotes.AlphaDropped;
        }

        if (format == ImageFileFormat.Jpeg && header.JpegComponents == 4)
        {
            notes |= DecodeNotes.Cmyk;
        }

        if (format == ImageFileFormat.Png && header.PngBitDepth == 16)
        {
            notes |= DecodeNotes.SixteenBit;
            byte[] rgbx = Png16Decoder.Decode(encoded, width, height, header.PngColorType, source);
            return new DecodedFrame(rgbx.AsMemory(0, width * height * 4), rgbx, width, height, 4, format, notes);
        }

        if (format == ImageFileFormat.Jpeg && !ImageHeader.JpegHasEndMarker(encoded, header.JpegScanOffset))
        {
            throw new ImageDecodeException(source, "truncated JPEG file: the image data ends before the end-of-image marker");
        }

        // Unpremultiplied RGBA with no colour space: Skia neither composites alpha nor applies ICC/gamma.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul, null);
        int length = checked(width * height * 4);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            GetPixels(codec, info, buffer, source, format);
            return new DecodedFrame(buffer.AsMemory(0, length), buffer, width, height, 4, format, notes);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static void GetPixels<T>(SKCodec codec, SKImageInfo info, T[] buffer, string source, ImageFileFormat format)
        where T : unmanaged
    {
        var pin = GCHandle.Alloc(buffer, GCHandleType.Pinned);
        SKCodecResult result;
        try
        {
            result = codec.GetPixels(info, pin.AddrOfPinnedObject(), info.RowBytes, new SKCodecOptions(SKZeroInitialized.No));
        }
        finally
        {
            pin.Free();
        }

        switch (result)
        {
            case SKCodecResult.Success:
                return;
            case SKCodecResult.IncompleteInput:
                throw new ImageDecodeException(source, $"truncated {FormatName(format)} file: the image data ends early");
            case SKCodecResult.ErrorInInput:
            case SKCodecResult.InvalidInput:
                throw new ImageDecodeException(source, $"corrupt {FormatName(format)} data ({Describe(result)})");
            default:
                throw new ImageDecodeException(source, $"cannot decode this {FormatName(format)} image ({Describe(result)})");
        }
    }

    private static string Describe(SKCodecResult result) => result switch
    {
        SKCodecResult.IncompleteInput => "the data ends early",
        SKCodecResult.ErrorInInput => "invalid data",
        SKCodecResult.InvalidInput => "invalid data",
        SKCodecResult.Unimplemented => "a variant of the format that the decoder does not implement",
        SKCodecResult.CouldNotRewind => "stream error",
        _ => result.ToString(),
    };

    internal static string FormatName(ImageFileFormat format) => format switch
    {
        ImageFileFormat.Png => "PNG",
        ImageFileFormat.Jpeg => "JPEG",
        ImageFileFormat.WebP => "WebP",
        ImageFileFormat.Bmp => "BMP",
        ImageFileFormat.Gif => "GIF",
        _ => "raw RGB",
    };
}

/// <summary>A decoded frame in a pooled buffer: <see cref="PixelStride"/> bytes per pixel (3 = RGB, 4 = RGBX), rows packed.</summary>
internal sealed class DecodedFrame : IDisposable
{
    private byte[]? _rented;

    public DecodedFrame(ReadOnlyMemory<byte> pixels, byte[]? rented, int width, int height, int pixelStride, ImageFileFormat format, DecodeNotes notes)
    {
        Pixels = pixels;
        _rented = rented;
        Width = width;
        Height = height;
        PixelStride = pixelStride;
        Format = format;
        Notes = notes;
    }

    public ReadOnlyMemory<byte> Pixels { get; }

    public int Width { get; }

    public int Height { get; }

    public int PixelStride { get; }

    public ImageFileFormat Format { get; }

    public DecodeNotes Notes { get; }

    public RgbImage ToRgbImage()
    {
        var rgb = GC.AllocateUninitializedArray<byte>(checked(Width * Height * 3));
        var src = Pixels.Span;
        if (PixelStride == 3)
        {
            src[..rgb.Length].CopyTo(rgb);
        }
        else
        {
            PackRgbxToRgb(src, rgb);
        }

        return new RgbImage(Width, Height, rgb);
    }

    /// <summary>Drops every 4th byte: 16 bytes of RGBX become 12 of RGB per SSSE3 shuffle.</summary>
    private static void PackRgbxToRgb(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int d = 0, s = 0;
        if (Ssse3.IsSupported)
        {
            var shuffle = Vector128.Create((byte)0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 0x80, 0x80, 0x80, 0x80);
            ref byte s0 = ref MemoryMarshal.GetReference(src);
            ref byte d0 = ref MemoryMarshal.GetReference(dst);
            // Each store writes 16 bytes of which 12 are kept: stop while 16 fit.
            for (; d + 16 <= dst.Length && s + 16 <= src.Length; s += 16, d += 12)
            {
                Ssse3.Shuffle(Vector128.LoadUnsafe(ref s0, (nuint)s), shuffle).StoreUnsafe(ref d0, (nuint)d);
            }
        }

        for (; d < dst.Length; s += 4, d += 3)
        {
            dst[d] = src[s];
            dst[d + 1] = src[s + 1];
            dst[d + 2] = src[s + 2];
        }
    }

    public void Dispose()
    {
        if (_rented is not null)
        {
            ArrayPool<byte>.Shared.Return(_rented);
            _rented = null;
        }
    }
}
