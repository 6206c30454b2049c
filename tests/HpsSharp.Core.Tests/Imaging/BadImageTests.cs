using System.Buffers.Binary;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Core.Tests.Imaging;

/// <summary>Bad inputs: each gives an <see cref="ImageDecodeException"/> that names the source and says what is wrong.</summary>
[Trait("Category", "Unit")]
public sealed class BadImageTests
{
    private static ImageDecodeException DecodeFails(byte[] data, string name, long maxPixels = ImageDecoder.DefaultMaxPixels)
    {
        var ex = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(ImageInput.FromBytes(data, name), maxPixels));
        Assert.Equal(name, ex.Source);
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
        return ex;
    }

    private static byte[] Fixture(string file) => File.ReadAllBytes(ImagingFixtures.File(file));

    [Fact]
    public void EmptyFile()
    {
        using var dir = new TempDir();
        string path = dir.File("empty.png");
        File.WriteAllBytes(path, []);
        var ex = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(ImageInput.FromPath(path)));
        Assert.Equal(path, ex.Source);
        Assert.Contains("empty", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFile()
    {
        using var dir = new TempDir();
        string path = dir.File("nope.png");
        var ex = Assert.Throws<ImageDecodeException>(() => new Qwen2VLImageProcessor().Process(ImageInput.FromPath(path)));
        Assert.Equal(path, ex.Source);
        Assert.Contains("not found", ex.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rgb.png")]
    [InlineData("rgb16.png")]
    [InlineData("rgb420.jpg")]
    [InlineData("progressive.jpg")]
    [InlineData("lossless.webp")]
    [InlineData("palette.gif")]
    [InlineData("rgb.bmp")]
    public void TruncatedFile(string file)
    {
        var data = Fixture(file);
        foreach (int keep in new[] { data.Length * 2 / 3, data.Length / 3 })
        {
            var ex = DecodeFails(data[..keep], "cut-" + file);
            Assert.Matches("truncated|corrupt", ex.Reason);
        }
    }

    [Fact]
    public void TruncatedHeader()
    {
        var ex = DecodeFails(Fixture("rgb.png")[..12], "stub.png");
        Assert.Contains("truncated PNG", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void NotAnImage()
    {
        var ex = DecodeFails("this is a text file, not a picture\n"u8.ToArray(), "notes.txt");
        Assert.Contains("not an image", ex.Reason, StringComparison.Ordinal);
        ex = DecodeFails([1, 2, 3], "tiny.bin");
        Assert.Contains("not an image", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CorruptPixelData()
    {
        var data = Fixture("rgb.png");
        // Flip bytes in the middle of the IDAT payload: the zlib stream or its CRC no longer checks out.
        for (int i = data.Length / 2; i < data.Length / 2 + 40; i++)
        {
            data[i] ^= 0x5A;
        }

        var ex = DecodeFails(data, "garbled.png");
        Assert.Matches("corrupt|truncated", ex.Reason);
    }

    [Theory]
    [InlineData(0, 16)]
    [InlineData(16, 0)]
    public void ZeroWidthOrHeight(int width, int height)
    {
        var ex = DecodeFails(PngWithHeader(width, height), "zero.png");
        Assert.Contains("zero width or height", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void HugeHeaderIsRefusedBeforeAllocating()
    {
        var png = PngWithHeader(100_000, 100_000);
        ImageDecoder.Decode(ImageInput.FromBytes(Fixture("rgb.png")), 1000); // warm up the code path
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = DecodeFails(png, "bomb.png");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("100000x100000", ex.Reason, StringComparison.Ordinal);
        Assert.Contains("limit", ex.Reason, StringComparison.Ordinal);
        Assert.True(allocated < 1_000_000, $"{allocated} bytes allocated before refusing");

        var jpeg = Fixture("rgb420.jpg");
        SetJpegSize(jpeg, 60000, 60000);
        ex = DecodeFails(jpeg, "bomb.jpg");
        Assert.Contains("60000x60000", ex.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void PixelLimitIsConfigurable()
    {
        var data = Fixture("rgb.png"); // 23x19 = 437 pixels
        var ex = DecodeFails(data, "small.png", maxPixels: 436);
        Assert.Contains("over the limit of 436", ex.Reason, StringComparison.Ordinal);
        Assert.Equal(23, ImageDecoder.Decode(ImageInput.FromBytes(data, "small.png"), maxPixels: 437).Width);

        var processor = new Qwen2VLImageProcessor(new ImageProcessorOptions(MaxDecodedPixels: 100));
        var raw = ImageInput.FromRgb(new byte[20 * 20 * 3], 20, 20, "raw20");
        var rawEx = Assert.Throws<ImageDecodeException>(() => processor.Process(raw));
        Assert.Equal("raw20", rawEx.Source);
    }

    [Theory]
    [InlineData("49492A0008000000", "TIFF")]
    [InlineData("4D4D002A00000008", "TIFF")]
    [InlineData("0000001C6674797061766966000000006D696631", "AVIF")]
    [InlineData("0000001866747970686569630000000068656963", "HEIF")]
    [InlineData("0000010001002020", "ICO")]
    [InlineData("38425053000100000000", "PSD")]
    [InlineData("255044462D312E340A", "PDF")]
    public void UnsupportedFormat(string hex, string name)
    {
        var data = Convert.FromHexString(hex).Concat(new byte[64]).ToArray();
        var ex = DecodeFails(data, "file." + name.ToLowerInvariant());
        Assert.Contains("unsupported image format " + name, ex.Reason, StringComparison.Ordinal);
    }

    /// <summary>A PNG whose IHDR (with a valid CRC) declares the given size, followed by a tiny IDAT and IEND.</summary>
    private static byte[] PngWithHeader(int width, int height)
    {
        var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = 2;
        WriteChunk(ms, "IHDR", ihdr);
        WriteChunk(ms, "IDAT", [0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
        WriteChunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var typeAndData = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typeAndData);
        Span<byte> crc = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typeAndData));
        s.Write(crc);
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
        }

        return ~crc;
    }

    private static void SetJpegSize(byte[] jpeg, int width, int height)
    {
        for (int i = 2; i + 9 < jpeg.Length;)
        {
            byte marker = jpeg[i + 1];
            int length = BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(i + 2));
            if (marker is 0xC0 or 0xC1 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 5), (ushort)height);
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 7), (ushort)width);
                return;
            }

            i += 2 + length;
        }

        throw new InvalidOperationException("no SOF marker");
    }
}
