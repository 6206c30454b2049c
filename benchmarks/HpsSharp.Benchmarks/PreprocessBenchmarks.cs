using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Benchmarks;

/// <summary>
/// HPSv3 image preprocessing of a 1024×1024 photo held in memory: decode + convert("RGB") + smart_resize (→ 448×448)
/// + Pillow-exact bicubic + normalise + patchify to [1024, 1176]. The Pillow + numpy baseline doing the same work is
/// tools/bench/preprocess_pillow.py; tools/bench/run_preprocess.sh runs both in one go (inputs from its make-inputs
/// step, folder in HPS_BENCH_IMAGES, default artifacts/bench under the repository root).
/// </summary>
[MemoryDiagnoser]
public class PreprocessBenchmarks
{
    private readonly Qwen2VLImageProcessor _processor = new();
    private byte[] _jpeg = [];
    private byte[] _png = [];
    private RgbImage _rgb = null!;

    [GlobalSetup]
    public void Setup()
    {
        string folder = Environment.GetEnvironmentVariable("HPS_BENCH_IMAGES") ?? FindDefaultFolder();
        _jpeg = File.ReadAllBytes(Path.Combine(folder, "photo1024.jpg"));
        _png = File.ReadAllBytes(Path.Combine(folder, "photo1024.png"));
        _rgb = ImageDecoder.Decode(ImageInput.FromBytes(_jpeg, "photo1024.jpg"));
        foreach (var (name, data) in new[] { ("jpg", _jpeg), ("png", _png) })
        {
            var p = _processor.Process(ImageInput.FromBytes(data, name));
            var bytes = new byte[p.PixelValues.Length * 4];
            Buffer.BlockCopy(p.PixelValues, 0, bytes, 0, bytes.Length);
            // Same prefix as the Python baseline prints: proof that both sides computed the same tensor.
            Console.WriteLine($"// {name}: pixel_values sha256 {Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]} grid [1, {p.GridH}, {p.GridW}]");
        }
    }

    [Benchmark]
    public RgbImage DecodeJpeg() => ImageDecoder.Decode(ImageInput.FromBytes(_jpeg, "photo1024.jpg"));

    [Benchmark]
    public ProcessedImage PreprocessJpeg() => _processor.Process(ImageInput.FromBytes(_jpeg, "photo1024.jpg"));

    [Benchmark]
    public RgbImage DecodePng() => ImageDecoder.Decode(ImageInput.FromBytes(_png, "photo1024.png"));

    [Benchmark]
    public ProcessedImage PreprocessPng() => _processor.Process(ImageInput.FromBytes(_png, "photo1024.png"));

    /// <summary>Resize + normalise + patchify only, from decoded RGB.</summary>
    [Benchmark]
    public ProcessedImage PreprocessRawRgb() => _processor.Process(_rgb);

    private static string FindDefaultFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HpsSharp.slnx")))
            {
                return Path.Combine(dir.FullName, "artifacts", "bench");
            }
        }

        throw new DirectoryNotFoundException("set HPS_BENCH_IMAGES to the folder made by tools/bench/preprocess_pillow.py make-inputs");
    }
}
