using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HpsSharp.Core.Imaging;

/// <summary>
/// Pillow's <c>Image.resize(size, Image.BICUBIC)</c> for 8-bit RGB, bit for bit (<c>src/libImaging/Resample.c</c>,
/// unchanged in its 8-bit arithmetic since Pillow 5.2; docs/preprocessing.md): a = −0.5 cubic kernel widened by the
/// scale when shrinking (antialias), coefficients normalised in double then rounded to 22-bit fixed point, a horizontal
/// pass then a vertical pass, each rounding and clipping to a byte. Pillow ≥ 12.2 runs the vertical pass first for
/// images more than 100 times taller than wide that shrink in height; this class always uses the ordinary order.
/// </summary>
public static class PillowBicubic
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const int Half = 1 << (PrecisionBits - 1);
    private const double Support = 2.0;

    /// <summary>Resizes <paramref name="image"/> to <paramref name="width"/>×<paramref name="height"/> (a copy when the size is unchanged).</summary>
    public static RgbImage Resize(RgbImage image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        image.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var output = new byte[checked(width * height * 3)];
        Resize(image.Pixels, image.Width, image.Height, 3, output, width, height);
        return new RgbImage(width, height, output);
    }

    /// <summary>
    /// The resampler on a source whose pixels take <paramref name="srcPixelStride"/> bytes (3 = RGB, 4 = RGBX/RGBA with
    /// the 4th byte ignored), writing packed RGB to <paramref name="dst"/> (width·height·3 bytes).
    /// </summary>
    internal static void Resize(ReadOnlySpan<byte> src, int srcWidth, int srcHeight, int srcPixelStride, Span<byte> dst, int width, int height, bool allowSimd = true)
    {
        if (srcPixelStride is not (3 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(srcPixelStride), "pixel stride must be 3 or 4");
        }

        if (src.Length < (long)srcWidth * srcHeight * srcPixelStride || dst.Length < (long)width * height * 3)
        {
            throw new ArgumentException("buffer too small for the given sizes");
        }

        dst = dst[..(width * height * 3)];
        bool needHorizontal = width != srcWidth;
        bool needVertical = height != srcHeight;
        if (!needHorizontal && !needVertical)
        {
            CopyToRgb(src, srcWidth * srcHeight, srcPixelStride, dst);
            return;
        }

        var vert = Coefficients.Compute(srcHeight, height);
        int yFirst = vert.Bounds[0];
        int yLast = vert.Bounds[(height - 1) * 2] + vert.Bounds[(height - 1) * 2 + 1];

        if (!needHorizontal)
        {
            // Vertical only: the vertical pass reads packed RGB rows.
            if (srcPixelStride == 3)
            {
                VerticalPass(src, srcWidth * 3, vert, 0, dst, height, allowSimd);
            }
            else
            {
                byte[] packed = ArrayPool<byte>.Shared.Rent(srcWidth * srcHeight * 3);
                try
                {
                    CopyToRgb(src, srcWidth * srcHeight, 4, packed);
                    VerticalPass(packed, srcWidth * 3, vert, 0, dst, height, allowSimd);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(packed);
                }
            }

            return;
        }

        var horiz = Coefficients.Compute(srcWidth, width);
        if (!needVertical)
        {
            HorizontalPass(src, srcWidth, srcPixelStride, 0, srcHeight, horiz, dst, width, allowSimd);
            return;
        }

        // The horizontal pass produces only the source rows the vertical pass reads, [yFirst, yLast).
        int tmpRows = yLast - yFirst;
        byte[] tmp = ArrayPool<byte>.Shared.Rent(tmpRows * width * 3);
        try
        {
            var tmpSpan = tmp.AsSpan(0, tmpRows * width * 3);
            HorizontalPass(src, srcWidth, srcPixelStride, yFirst, yLast, horiz, tmpSpan, width, allowSimd);
            VerticalPass(tmpSpan, width * 3, vert, yFirst, dst, height, allowSimd);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(tmp);
        }
    }

    private static void CopyToRgb(ReadOnlySpan<byte> src, int pixels, int stride, Span<byte> dst)
    {
        if (stride == 3)
        {
            src[..(pixels * 3)].CopyTo(dst);
            return;
        }

        for (int i = 0, s = 0, d = 0; i < pixels; i++, s += 4, d += 3)
        {
            dst[d] = src[s];
            dst[d + 1] = src[s + 1];
            dst[d + 2] = src[s + 2];
        }
    }

    /// <summary>Per-axis coefficients: for output i, taps start at Bounds[2i] and number Bounds[2i+1]; K[i·KSize + j] in 22-bit fixed point.</summary>
    internal sealed class Coefficients
    {
        private Coefficients(int[] bounds, int[] k, int kSize)
        {
            Bounds = bounds;
            K = k;
            KSize = kSize;
        }

        public int[] Bounds { get; }

        public int[] K { get; }

        public int KSize { get; }

        /// <summary><c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c> for the whole-image box (in0 = 0, in1 = inSize).</summary>
        public static Coefficients Compute(int inSize, int outSize)
        {
            double scale = (double)inSize / outSize;
            double filterScale = scale < 1.0 ? 1.0 : scale;
            double support = Support * filterScale;
            int kSize = (int)Math.Ceiling(support) * 2 + 1;
            var bounds = new int[outSize * 2];
            var kk = new int[outSize * kSize];
            var w = new double[kSize];
            double ss = 1.0 / filterScale;
            for (int xx = 0; xx < outSize; xx++)
            {
                double center = (xx + 0.5) * scale;
                double ww = 0.0;
                int xmin = (int)(center - support + 0.5);
                if (xmin < 0)
                {
                    xmin = 0;
                }

                int xmax = (int)(center + support + 0.5);
                if (xmax > inSize)
                {
                    xmax = inSize;
                }

                xmax -= xmin;
                for (int x = 0; x < xmax; x++)
                {
                    double v = Filter((x + xmin - center + 0.5) * ss);
                    w[x] = v;
                    ww += v;
                }

                for (int x = 0; x < xmax; x++)
                {
                    double v = ww != 0.0 ? w[x] / ww : w[x];
                    kk[xx * kSize + x] = v < 0
                        ? (int)(-0.5 + v * (1 << PrecisionBits))
                        : (int)(0.5 + v * (1 << PrecisionBits));
                }

                bounds[xx * 2] = xmin;
                bounds[xx * 2 + 1] = xmax;
            }

            return new Coefficients(bounds, kk, kSize);
        }

        private static double Filter(double x)
        {
            const double a = -0.5;
            if (x < 0.0)
            {
                x = -x;
            }

            if (x < 1.0)
            {
                return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
            }

            if (x < 2.0)
            {
                return (((x - 5) * x + 8) * x - 4) * a;
            }

            return 0.0;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Clip8(int ss)
    {
        int v = ss >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>Resamples rows [rowFirst, rowLast) of the source horizontally into packed RGB rows of dst.</summary>
    private static void HorizontalPass(ReadOnlySpan<byte> src, int srcWidth, int stride, int rowFirst, int rowLast, Coefficients c, Span<byte> dst, int width, bool allowSimd)
    {
        int srcRowBytes = srcWidth * stride;
        int dstRowBytes = width * 3;
        int kSize = c.KSize;
        int[] bounds = c.Bounds;
        int[] kk = c.K;
        if (allowSimd && stride == 4 && Avx2.IsSupported)
        {
            HorizontalPassRgbxAvx2(src, srcRowBytes, rowFirst, rowLast, c, dst, width);
            return;
        }

        if (allowSimd && Sse41.IsSupported)
        {
            HorizontalPassSse41(src, srcRowBytes, stride, rowFirst, rowLast, c, dst, width);
            return;
        }

        for (int y = rowFirst; y < rowLast; y++)
        {
            var row = src.Slice(y * srcRowBytes, srcRowBytes);
            var outRow = dst.Slice((y - rowFirst) * dstRowBytes, dstRowBytes);
            for (int xx = 0; xx < width; xx++)
            {
                int xmin = bounds[xx * 2];
                int n = bounds[xx * 2 + 1];
                var k = kk.AsSpan(xx * kSize, n);
                int ss0 = Half, ss1 = Half, ss2 = Half;
                int p = xmin * stride;
                for (int x = 0; x < k.Length; x++, p += stride)
                {
                    int kx = k[x];
                    ss0 += row[p] * kx;
                    ss1 += row[p + 1] * kx;
                    ss2 += row[p + 2] * kx;
                }

                outRow[xx * 3] = Clip8(ss0);
                outRow[xx * 3 + 1] = Clip8(ss1);
                outRow[xx * 3 + 2] = Clip8(ss2);
            }
        }
    }

    /// <summary>
    /// The horizontal pass with one SSE4.1 lane per channel: each tap loads 4 bytes (R, G, B and one byte of the next
    /// pixel or the X byte, whose lane is discarded). A pixel whose last load would pass the end of src is done scalar.
    /// </summary>
    private static void HorizontalPassSse41(ReadOnlySpan<byte> src, int srcRowBytes, int stride, int rowFirst, int rowLast, Coefficients c, Span<byte> dst, int width)
    {
        int kSize = c.KSize;
        int dstRowBytes = width * 3;
        int[] bounds = c.Bounds;
        var half = Vector128.Create(Half);
        ref byte s0 = ref MemoryMarshal.GetReference(src);
        ref byte d0 = ref MemoryMarshal.GetReference(dst);
        ref int k0 = ref MemoryMarshal.GetArrayDataReference(c.K);
        for (int y = rowFirst; y < rowLast; y++)
        {
            int rowStart = y * srcRowBytes;
            int outp = (y - rowFirst) * dstRowBytes;
            for (int xx = 0; xx < width; xx++, outp += 3)
            {
                int n = bounds[xx * 2 + 1];
                int p = rowStart + bounds[xx * 2] * stride;
                ref int k = ref Unsafe.Add(ref k0, xx * kSize);
                if (p + (n - 1) * stride + 4 > src.Length)
                {
                    int ss0 = Half, ss1 = Half, ss2 = Half;
                    for (int x = 0; x < n; x++, p += stride)
                    {
                        int kx = Unsafe.Add(ref k, x);
                        ss0 += src[p] * kx;
                        ss1 += src[p + 1] * kx;
                        ss2 += src[p + 2] * kx;
                    }

                    dst[outp] = Clip8(ss0);
                    dst[outp + 1] = Clip8(ss1);
                    dst[outp + 2] = Clip8(ss2);
                    continue;
                }

                var acc = half;
                for (int x = 0; x < n; x++, p += stride)
                {
                    uint raw = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s0, p));
                    var px = Sse41.ConvertToVector128Int32(Vector128.CreateScalarUnsafe(raw).AsByte());
                    acc = Sse2.Add(acc, Sse41.MultiplyLow(px, Vector128.Create(Unsafe.Add(ref k, x))));
                }

                acc = Sse2.ShiftRightArithmetic(acc, PrecisionBits);
                var s16 = Sse2.PackSignedSaturate(acc, acc);
                var u8 = Sse2.PackUnsignedSaturate(s16, s16);
                uint rgbx = u8.AsUInt32().ToScalar();
                if (outp + 4 <= dst.Length)
                {
                    // Stores R, G, B and one byte that the next pixel overwrites.
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref d0, outp), rgbx);
                }
                else
                {
                    dst[outp] = (byte)rgbx;
                    dst[outp + 1] = (byte)(rgbx >> 8);
                    dst[outp + 2] = (byte)(rgbx >> 16);
                }
            }
        }
    }

    /// <summary>
    /// The horizontal pass for RGBX sources, two taps per AVX2 step: one 8-byte load widens two adjacent pixels into
    /// eight lanes, multiplied by (k[j] ×4, k[j+1] ×4); the halves are added at the end. Integer sums are exact and
    /// associative, so the result equals the sequential sum. An odd tap count reads one more pixel with weight 0;
    /// a pixel whose loads would pass the end of src is done with one tap per step.
    /// </summary>
    private static void HorizontalPassRgbxAvx2(ReadOnlySpan<byte> src, int srcRowBytes, int rowFirst, int rowLast, Coefficients c, Span<byte> dst, int width)
    {
        int kSize = c.KSize;
        int maxPairs = (kSize + 1) / 2;
        int[] bounds = c.Bounds;
        var pairs = new int[width * maxPairs * 8];
        for (int xx = 0; xx < width; xx++)
        {
            int n = bounds[xx * 2 + 1];
            for (int j = 0; j < n; j++)
            {
                int baseIndex = (xx * maxPairs + j / 2) * 8 + (j & 1) * 4;
                pairs.AsSpan(baseIndex, 4).Fill(c.K[xx * kSize + j]);
            }
        }

        int dstRowBytes = width * 3;
        var half = Vector128.Create(Half);
        ref byte s0 = ref MemoryMarshal.GetReference(src);
        ref byte d0 = ref MemoryMarshal.GetReference(dst);
        ref int k0 = ref MemoryMarshal.GetArrayDataReference(pairs);
        ref int kSingle0 = ref MemoryMarshal.GetArrayDataReference(c.K);
        for (int y = rowFirst; y < rowLast; y++)
        {
            int rowStart = y * srcRowBytes;
            int outp = (y - rowFirst) * dstRowBytes;
            for (int xx = 0; xx < width; xx++, outp += 3)
            {
                int n = bounds[xx * 2 + 1];
                int np = (n + 1) >> 1;
                int p = rowStart + bounds[xx * 2] * 4;
                Vector128<int> acc;
                if (p + np * 8 <= src.Length)
                {
                    var acc8 = Vector256<int>.Zero;
                    ref int k = ref Unsafe.Add(ref k0, xx * maxPairs * 8);
                    for (int j = 0; j < np; j++, p += 8)
                    {
                        ulong raw = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref s0, p));
                        var px = Avx2.ConvertToVector256Int32(Vector128.CreateScalarUnsafe(raw).AsByte());
                        var kv = Vector256.LoadUnsafe(ref Unsafe.Add(ref k, j * 8));
                        acc8 = Avx2.Add(acc8, Avx2.MultiplyLow(px, kv));
                    }

                    acc = Sse2.Add(Sse2.Add(acc8.GetLower(), acc8.GetUpper()), half);
                }
                else
                {
                    acc = half;
                    ref int k = ref Unsafe.Add(ref kSingle0, xx * kSize);
                    for (int j = 0; j < n; j++, p += 4)
                    {
                        uint raw = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s0, p));
                        var px = Sse41.ConvertToVector128Int32(Vector128.CreateScalarUnsafe(raw).AsByte());
                        acc = Sse2.Add(acc, Sse41.MultiplyLow(px, Vector128.Create(Unsafe.Add(ref k, j))));
                    }
                }

                acc = Sse2.ShiftRightArithmetic(acc, PrecisionBits);
                var s16 = Sse2.PackSignedSaturate(acc, acc);
                uint rgbx = Sse2.PackUnsignedSaturate(s16, s16).AsUInt32().ToScalar();
                if (outp + 4 <= dst.Length)
                {
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref d0, outp), rgbx);
                }
                else
                {
                    dst[outp] = (byte)rgbx;
                    dst[outp + 1] = (byte)(rgbx >> 8);
                    dst[outp + 2] = (byte)(rgbx >> 16);
                }
            }
        }
    }

    /// <summary>Resamples packed RGB rows vertically; source row r of the coefficients is row r − rowOffset of src.</summary>
    private static void VerticalPass(ReadOnlySpan<byte> src, int rowBytes, Coefficients c, int rowOffset, Span<byte> dst, int height, bool allowSimd)
    {
        int kSize = c.KSize;
        int[] bounds = c.Bounds;
        int[] kk = c.K;
        int simdEnd = 0;
        for (int yy = 0; yy < height; yy++)
        {
            int ymin = bounds[yy * 2] - rowOffset;
            int n = bounds[yy * 2 + 1];
            var k = kk.AsSpan(yy * kSize, n);
            var outRow = dst.Slice(yy * rowBytes, rowBytes);
            if (allowSimd && Avx2.IsSupported)
            {
                simdEnd = VerticalRowAvx2(src, rowBytes, ymin, k, outRow);
            }

            for (int x = simdEnd; x < rowBytes; x++)
            {
                int ss = Half;
                int p = ymin * rowBytes + x;
                for (int j = 0; j < k.Length; j++, p += rowBytes)
                {
                    ss += src[p] * k[j];
                }

                outRow[x] = Clip8(ss);
            }
        }
    }

    /// <summary>Vertical pass of one output row, 16 bytes at a time; returns how many bytes were done.</summary>
    private static int VerticalRowAvx2(ReadOnlySpan<byte> src, int rowBytes, int ymin, ReadOnlySpan<int> k, Span<byte> outRow)
    {
        int end = rowBytes & ~15;
        var half = Vector256.Create(Half);
        ref byte s0 = ref MemoryMarshal.GetReference(src);
        ref byte o0 = ref MemoryMarshal.GetReference(outRow);
        int top = ymin * rowBytes;
        for (int x = 0; x < end; x += 16)
        {
            var acc0 = half;
            var acc1 = half;
            int p = top + x;
            for (int j = 0; j < k.Length; j++, p += rowBytes)
            {
                var kv = Vector256.Create(k[j]);
                var v = Vector128.LoadUnsafe(ref s0, (nuint)p);
                acc0 = Avx2.Add(acc0, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(v), kv));
                acc1 = Avx2.Add(acc1, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(v, 8)), kv));
            }

            acc0 = Avx2.ShiftRightArithmetic(acc0, PrecisionBits);
            acc1 = Avx2.ShiftRightArithmetic(acc1, PrecisionBits);
            // The 256-bit pack works per 128-bit lane, giving quarters [a0-3 b0-3 a4-7 b4-7]: reorder to a, b.
            var s16 = Avx2.PackSignedSaturate(acc0, acc1);
            s16 = Avx2.Permute4x64(s16.AsInt64(), 0b11_01_10_00).AsInt16();
            var u8 = Sse2.PackUnsignedSaturate(s16.GetLower(), s16.GetUpper());
            u8.StoreUnsafe(ref o0, (nuint)x);
        }

        return end;
    }
}
