using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace HpsSharp.Core.Imaging;

/// <summary>
/// Decodes 16-bit-per-sample PNGs to 8-bit RGBX the way Pillow reads them. Skia only offers such PNGs rescaled to
/// 8 bits or as half floats, neither of which gives Pillow's numbers: Pillow keeps each sample's high byte for
/// RGB/RGBA/LA (raw modes <c>RGB;16B</c>, <c>RGBA;16B</c>, <c>LA;16B</c>) and opens grey as <c>I;16</c>/<c>I</c>, whose
/// <c>convert("RGB")</c> saturates: min(v, 255). Handles every filter type and Adam7 interlacing.
/// </summary>
internal static class Png16Decoder
{
    private static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    /// <summary>Decodes into a rented RGBX buffer of width·height·4 bytes (the caller returns it to the shared pool).</summary>
    public static byte[] Decode(ReadOnlySpan<byte> png, int width, int height, int colorType, string source)
    {
        int channels = colorType switch
        {
            0 => 1,
            2 => 3,
            4 => 2,
            6 => 4,
            _ => throw new ImageDecodeException(source, $"corrupt PNG: colour type {colorType} cannot have 16-bit samples"),
        };
        int interlace = png[8 + 8 + 12];
        var idat = new MemoryStream();
        bool ended = false;
        for (int pos = 8; pos + 8 <= png.Length;)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(png[pos..]);
            var type = png.Slice(pos + 4, 4);
            if (pos + 12 + length > png.Length)
            {
                if (type.SequenceEqual("IDAT"u8))
                {
                    idat.Write(png[(pos + 8)..]);
                }

                break;
            }

            if (type.SequenceEqual("IDAT"u8))
            {
                idat.Write(png.Slice(pos + 8, (int)length));
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                ended = true;
                break;
            }

            pos += 12 + (int)length;
        }

        int bpp = channels * 2;
        long rawLength = 0;
        foreach (var (w, h) in Passes(width, height, interlace))
        {
            rawLength += (long)h * (1 + (long)w * bpp);
        }

        byte[] raw = ArrayPool<byte>.Shared.Rent(checked((int)rawLength));
        try
        {
            int got = 0;
            try
            {
                idat.Position = 0;
                using var z = new ZLibStream(idat, CompressionMode.Decompress);
                while (got < rawLength)
                {
                    int n = z.Read(raw, got, (int)rawLength - got);
                    if (n == 0)
                    {
                        break;
                    }

                    got += n;
                }
            }
            catch (InvalidDataException ex)
            {
                throw new ImageDecodeException(source, "corrupt PNG data: " + ex.Message, ex);
            }

            if (got < rawLength || !ended)
            {
                throw new ImageDecodeException(source, "truncated PNG file: the image data ends early");
            }

            byte[] output = ArrayPool<byte>.Shared.Rent(checked(width * height * 4));
            int offset = 0;
            int pass = 0;
            foreach (var (w, h) in Passes(width, height, interlace))
            {
                var (x0, y0, dx, dy) = interlace == 1 ? Adam7[pass] : (0, 0, 1, 1);
                pass++;
                if (w == 0 || h == 0)
                {
                    continue;
                }

                int stride = w * bpp;
                for (int y = 0; y < h; y++)
                {
                    int filter = raw[offset];
                    var line = raw.AsSpan(offset + 1, stride);
                    var prev = y == 0 ? default : raw.AsSpan(offset - stride, stride);
                    Unfilter(filter, line, prev, bpp, source);
                    int outY = y0 + y * dy;
                    for (int x = 0; x < w; x++)
                    {
                        var s = line.Slice(x * bpp, bpp);
                        int o = (outY * width + x0 + x * dx) * 4;
                        if (channels <= 2)
                        {
                            // Grey (I;16) saturates; grey + alpha (LA;16B) keeps the high byte.
                            byte v = channels == 1
                                ? (s[0] == 0 ? s[1] : (byte)255)
                                : s[0];
                            output[o] = output[o + 1] = output[o + 2] = v;
                        }
                        else
                        {
                            output[o] = s[0];
                            output[o + 1] = s[2];
                            output[o + 2] = s[4];
                        }

                        output[o + 3] = 255;
                    }

                    offset += 1 + stride;
                }
            }

            return output;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    private static IEnumerable<(int Width, int Height)> Passes(int width, int height, int interlace)
    {
        if (interlace != 1)
        {
            yield return (width, height);
            yield break;
        }

        foreach (var (x0, y0, dx, dy) in Adam7)
        {
            yield return ((width - x0 + dx - 1) / dx, (height - y0 + dy - 1) / dy);
        }
    }

    private static void Unfilter(int filter, Span<byte> line, ReadOnlySpan<byte> prev, int bpp, string source)
    {
        switch (filter)
        {
            case 0:
                break;
            case 1:
                for (int i = bpp; i < line.Length; i++)
                {
                    line[i] += line[i - bpp];
                }

                break;
            case 2:
                if (!prev.IsEmpty)
                {
                    for (int i = 0; i < line.Length; i++)
                    {
                        line[i] += prev[i];
                    }
                }

                break;
            case 3:
                for (int i = 0; i < line.Length; i++)
                {
                    int left = i >= bpp ? line[i - bpp] : 0;
                    int up = prev.IsEmpty ? 0 : prev[i];
                    line[i] += (byte)((left + up) >> 1);
                }

                break;
            case 4:
                for (int i = 0; i < line.Length; i++)
                {
                    int a = i >= bpp ? line[i - bpp] : 0;
                    int b = prev.IsEmpty ? 0 : prev[i];
                    int c = i >= bpp && !prev.IsEmpty ? prev[i - bpp] : 0;
                    int p = a + b - c;
                    int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    line[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }

                break;
            default:
                throw new ImageDecodeException(source, $"corrupt PNG data: unknown row filter {filter}");
        }
    }
}
