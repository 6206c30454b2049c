using BenchmarkDotNet.Attributes;
using HpsSharp.Core.Text;

namespace HpsSharp.Benchmarks;

/// <summary>
/// Qwen2 tokenizer and HPSv3 prompt building. Needs the Qwen2-VL tokenizer files: <c>HPS_TOKENIZER</c>, else
/// <c>HPS_ASSETS/qwen2-vl-tokenizer</c>, else <c>../shared/assets/qwen2-vl-tokenizer</c> beside the repository.
/// Run: <c>dotnet run -c Release --project benchmarks/HpsSharp.Benchmarks -- --filter '*Tokenizer*'</c>.
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private const string Prompt =
        "Close-up photograph of a tabby cat's face with large green eyes and a pink nose, shallow depth of field, soft indoor light";

    private const string UnicodePrompt = "Über-cool café résumé, 中文提示：一只可爱的猫咪在草地上玩耍。 emoji 🐱🚀✨";

    private Qwen2Tokenizer _tokenizer = null!;
    private string _renderedText = null!;
    private int[][] _batch = null!;

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = Qwen2Tokenizer.FromDirectory(TokenizerDir());
        _renderedText = Hpsv3Prompt.RenderText(Prompt);
        _batch = Enumerable.Range(0, 8).Select(i => Hpsv3Prompt.Build(_tokenizer, Prompt + new string('!', i * 7), 256).InputIds).ToArray();
    }

    [Benchmark(Description = "FromDirectory (vocab.json + merges.txt)")]
    public Qwen2Tokenizer Load() => Qwen2Tokenizer.FromDirectory(TokenizerDir());

    [Benchmark(Description = "Encode prompt (122 chars, ASCII)")]
    public int[] EncodePrompt() => _tokenizer.Encode(Prompt);

    [Benchmark(Description = "Encode prompt (non-ASCII, NFC path)")]
    public int[] EncodeUnicodePrompt() => _tokenizer.Encode(UnicodePrompt);

    [Benchmark(Description = "Encode full HPSv3 text (2850 chars)")]
    public int[] EncodeRenderedText() => _tokenizer.Encode(_renderedText);

    [Benchmark(Description = "Hpsv3Prompt.Build (256 image tokens)")]
    public Hpsv3PromptTokens Build() => Hpsv3Prompt.Build(_tokenizer, Prompt, 256);

    [Benchmark(Description = "TokenBatch.RightPad (8 × ~810)")]
    public TokenBatchResult RightPad() => TokenBatch.RightPad(_batch);

    [Benchmark(Description = "Decode full HPSv3 ids")]
    public string Decode() => _tokenizer.Decode(_batch[0]);

    private static string TokenizerDir()
    {
        var explicitDir = Environment.GetEnvironmentVariable("HPS_TOKENIZER");
        if (!string.IsNullOrEmpty(explicitDir))
        {
            return explicitDir;
        }

        var assets = Environment.GetEnvironmentVariable("HPS_ASSETS");
        if (!string.IsNullOrEmpty(assets))
        {
            return Path.Combine(assets, "qwen2-vl-tokenizer");
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HpsSharp.slnx")))
            {
                return Path.Combine(dir.FullName, "..", "shared", "assets", "qwen2-vl-tokenizer");
            }
        }

        throw new DirectoryNotFoundException("Qwen2-VL tokenizer files not found: set HPS_TOKENIZER or HPS_ASSETS");
    }
}
