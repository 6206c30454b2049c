using System.Buffers.Binary;

namespace HpsSharp.Core.Imaging;

/// <summary>The container formats the decoder accepts.</summary>
public enum ImageFileFormat
{
    /// <summary>Raw RGB pixels given by the caller (no container).</summary>
    RawRgb,
    Png,
    Jpeg,
    WebP,
    Bmp,
    Gif,
}

/// <summary>
/// What the first bytes of an encoded image say, read without decoding: the format and the declared size (so a
/// header claiming 100000×100000 is refused before anything is allocated), plus the PNG bit depth and colour type and
/// the JPEG component count, which decide how Pillow's <c>convert("RGB")</c> treats the pixels.
/// </summary>
internal readonly record struct ImageHeader(ImageFileFormat Format, long Width, long Height, bool HasSize, int PngBitDepth, int PngColorType, int JpegComponents, int JpegScanOffset = -1)
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Reads the header, or throws <see cref="ImageDecodeException"/> for empty data, a foreign format or a truncated header.</summary>
    public static ImageHeader Read(ReadOnlySpan<byte> data, string source)
    {
        if (data.IsEmpty)
        {
            throw new ImageDecodeException(source, "the file is empty (0 bytes)");
        }

        if (data.StartsWith(PngSignature))
        {
            return ReadPng(data, source);
        }

        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        {
            return ReadJpeg(data);
        }

        if (data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8))
        {
            if (data.Length < 10)
            {
                throw Truncated(source, "GIF");
            }

            return new ImageHeader(ImageFileFormat.Gif, BinaryPrimitives.ReadUInt16LittleEndian(data[6..]), BinaryPrimitives.ReadUInt16LittleEndian(data[8..]), true, 0, 0, 0);
        }

        if (data.Length >= 12 && data.StartsWith("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8))
        {
            return ReadWebP(data, source);
        }

        if (data.StartsWith("BM"u8))
        {
            return ReadBmp(data, source);
        }

        string? other = NameForeignFormat(data);
        if (other is not null)
        {
            throw new ImageDecodeException(source, $"unsupported image format {other} (supported: PNG, JPEG, WebP, BMP, GIF)");
        }

        if (data.Length < 8)
        {
            throw new ImageDecodeException(source, $"not an image: only {data.Length} byte(s), too short for any image format");
        }

        throw new ImageDecodeException(source, $"not an image: no known image signature (first bytes {Convert.ToHexString(data[..Math.Min(8, data.Length)])})");
    }

    private static ImageDecodeException Truncated(string source, string format) =>
        new(source, $"truncated {format} file: the header is incomplete");

    private static ImageHeader ReadPng(ReadOnlySpan<byte> data, string source)
    {
        // Signature (8), chunk length (4), "IHDR" (4), width, height (4 each, big-endian), bit depth, colour type.
        if (data.Length < 8 + 8 + 10)
        {
            throw Truncated(source, "PNG");
        }

        if (!data[12..16].SequenceEqual("IHDR"u8))
        {
            throw new ImageDecodeException(source, "corrupt PNG: the first chunk is not IHDR");
        }

        long width = BinaryPrimitives.ReadUInt32BigEndian(data[16..]);
        long height = BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        return new ImageHeader(ImageFileFormat.Png, width, height, true, data[24], data[25], 0);
    }

    private static ImageHeader ReadJpeg(ReadOnlySpan<byte> data)
    {
        // Walk the marker segments (APPn segments, which may hold an EXIF thumbnail, are skipped whole) to the frame
        // header (SOFn) and the first scan (SOS); a stream that ends earlier is left to the decoder to reject.
        int i = 2;
        ImageHeader? frame = null;
        while (i + 4 <= data.Length)
        {
            if (data[i] != 0xFF)
            {
                break;
            }

            byte marker = data[i + 1];
            if (marker == 0xFF)
            {
                i++;
                continue;
            }

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                i += 2;
                continue;
            }

            int length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
            bool isSof = marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC);
            if (isSof)
            {
                if (i + 10 > data.Length)
                {
                    break;
                }

                long height = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]);
                long width = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]);
                frame = new ImageHeader(ImageFileFormat.Jpeg, width, height, true, 0, 0, data[i + 9]);
            }

            if (marker == 0xDA)
            {
                return frame is { } f ? f with { JpegScanOffset = i } : new ImageHeader(ImageFileFormat.Jpeg, 0, 0, false, 0, 0, 0, i);
            }

            if (length < 2)
            {
                break;
            }

            i += 2 + length;
        }

        return frame ?? new ImageHeader(ImageFileFormat.Jpeg, 0, 0, false, 0, 0, 0);
    }

    private static ImageHeader ReadWebP(ReadOnlySpan<byte> data, string source)
    {
        if (data.Length < 30)
        {
            throw Truncated(source, "WebP");
        }

        var chunk = data[12..16];
        if (chunk.SequenceEqual("VP8 "u8))
        {
            return new ImageHeader(ImageFileFormat.WebP, BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(data[28..]) & 0x3FFF, true, 0, 0, 0);
        }

        if (chunk.SequenceEqual("VP8L"u8))
        {
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(data[21..]);
            return new ImageHeader(ImageFileFormat.WebP, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, true, 0, 0, 0);
        }

        if (chunk.SequenceEqual("VP8X"u8))
        {
            long w = data[24] | (data[25] << 8) | (data[26] << 16);
            long h = data[27] | (data[28] << 8) | (data[29] << 16);
            return new ImageHeader(ImageFileFormat.WebP, w + 1, h + 1, true, 0, 0, 0);
        }

        throw new ImageDecodeException(source, $"corrupt WebP: unknown first chunk '{System.Text.Encoding.ASCII.GetString(chunk)}'");
    }

    private static ImageHeader ReadBmp(ReadOnlySpan<byte> data, string source)
    {
        if (data.Length < 26)
        {
            throw Truncated(source, "BMP");
        }

        uint dibSize = BinaryPrimitives.ReadUInt32LittleEndian(data[14..]);
        if (dibSize == 12)
        {
            return new ImageHeader(ImageFileFormat.Bmp, BinaryPrimitives.ReadUInt16LittleEndian(data[18..]), BinaryPrimitives.ReadUInt16LittleEndian(data[20..]), true, 0, 0, 0);
        }

        // Negative height = rows stored top-down.
        long width = BinaryPrimitives.ReadInt32LittleEndian(data[18..]);
        long height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[22..]));
        return new ImageHeader(ImageFileFormat.Bmp, Math.Max(0, width), height, true, 0, 0, 0);
    }

    /// <summary>Names well-known image and document formats that are not accepted, for a clearer message.</summary>
    private static string? NameForeignFormat(ReadOnlySpan<byte> d)
    {
        if (d.StartsWith("II*\0"u8) || d.StartsWith("MM\0*"u8))
        {
            return "TIFF";
        }

        if (d.Length >= 12 && d[4..8].SequenceEqual("ftyp"u8))
        {
            var brand = d[8..12];
            if (brand.SequenceEqual("avif"u8) || brand.SequenceEqual("avis"u8))
            {
                return "AVIF";
            }

            if (brand.StartsWith("he"u8) || brand.SequenceEqual("mif1"u8) || brand.SequenceEqual("msf1"u8))
            {
                return "HEIF/HEIC";
            }

            return "ISO media (MP4/MOV)";
        }

        if (d.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0x01, 0x00]) || d.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0x02, 0x00]))
        {
            return "ICO/CUR";
        }

        if (d.StartsWith("8BPS"u8))
        {
            return "PSD";
        }

        if (d.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || d.StartsWith((ReadOnlySpan<byte>)[0xFF, 0x4F, 0xFF, 0x51]))
        {
            return "JPEG 2000";
        }

        if (d.StartsWith((ReadOnlySpan<byte>)[0xFF, 0x0A]) || d.StartsWith((ReadOnlySpan<byte>)[0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]))
        {
            return "JPEG XL";
        }

        if (d.StartsWith("qoif"u8))
        {
            return "QOI";
        }

        if (d.StartsWith((ReadOnlySpan<byte>)[0x76, 0x2F, 0x31, 0x01]))
        {
            return "OpenEXR";
        }

        if (d.StartsWith("DDS "u8))
        {
            return "DDS";
        }

        if (d.StartsWith("%PDF"u8))
        {
            return "PDF (a document, not an image)";
        }

        if (d.Length >= 2 && d[0] == (byte)'P' && d[1] is >= (byte)'1' and <= (byte)'7' && d.Length >= 3 && d[2] is (byte)'\n' or (byte)' ' or (byte)'\r' or (byte)'\t')
        {
            return "PNM/PAM";
        }

        var head = d[..Math.Min(d.Length, 256)];
        if (head.IndexOf("<svg"u8) >= 0)
        {
            return "SVG";
        }

        return null;
    }

    /// <summary>
    /// Pillow refuses a JPEG whose data ends before the EOI marker ("image file is truncated"); libjpeg inside Skia
    /// pads such a stream and may report success (progressive files). True when an EOI follows the first scan.
    /// </summary>
    public static bool JpegHasEndMarker(ReadOnlySpan<byte> data, int scanOffset) =>
        scanOffset > 0 && data[scanOffset..].LastIndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) >= 0;

    /// <summary>
    /// A copy of a GIF with the transparency flag of the first frame's graphic control extension cleared, or null when
    /// it has none. Pillow's <c>convert("RGB")</c> of a P image gives transparent pixels their palette colour; Skia
    /// would decode them as transparent black.
    /// </summary>
    public static byte[]? GifWithoutFirstFrameTransparency(ReadOnlySpan<byte> gif)
    {
        if (gif.Length < 13)
        {
            return null;
        }

        int pos = 13;
        if ((gif[10] & 0x80) != 0)
        {
            pos += 3 << ((gif[10] & 7) + 1);
        }

        while (pos < gif.Length)
        {
            byte block = gif[pos];
            if (block != 0x21 || pos + 1 >= gif.Length)
            {
                return null; // image descriptor (0x2C), trailer or damage: nothing (more) to patch
            }

            byte label = gif[pos + 1];
            if (label == 0xF9 && pos + 3 < gif.Length && gif[pos + 2] >= 4)
            {
                if ((gif[pos + 3] & 1) == 0)
                {
                    return null;
                }

                var copy = gif.ToArray();
                copy[pos + 3] &= 0xFE;
                return copy;
            }

            // Skip the extension's sub-blocks.
            pos += 2;
            while (pos < gif.Length && gif[pos] != 0)
            {
                pos += gif[pos] + 1;
            }

            pos++;
        }

        return null;
    }
}
