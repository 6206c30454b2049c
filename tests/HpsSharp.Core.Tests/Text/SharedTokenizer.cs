using HpsSharp.Core.Text;
using HpsSharp.Testing;

namespace HpsSharp.Core.Tests.Text;

/// <summary>The real Qwen2-VL tokenizer from the shared assets, loaded once for all text tests (about a second).</summary>
internal static class SharedTokenizer
{
    private static readonly Lazy<Qwen2Tokenizer> Lazy = new(() => Qwen2Tokenizer.FromDirectory(TestPaths.TokenizerDir));

    public static Qwen2Tokenizer Instance => Lazy.Value;
}
