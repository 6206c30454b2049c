using HpsSharp.Core;
using Xunit;

namespace HpsSharp.Modeling.Tests;

[Trait("Category", "Unit")]
public sealed class AutoBatchSizeTests
{
    private const long GiB = 1L << 30;

    [Fact]
    public void WithoutADeviceFigure_ItIsTheDefaultFour() =>
        Assert.Equal(4, HpsScorer.AutoBatchSize(Qwen2VLConfig.Released7B, Precision.Bf16, 200704, null));

    [Fact]
    public void SevenB_Bf16_FillsTheFreeMemoryMinusHeadroom()
    {
        // One 448×448 item: 1024 patches, 256 + 80 tokens → 2·2·(336·(4·3584 + 3·18944) + 1024·(8·1280 + 2·5120)) bytes.
        long perItem = 2L * 2 * ((336L * ((4 * 3584) + (3 * 18944))) + (1024L * ((8 * 1280) + (2 * 5120))));
        Assert.Equal((int)((10 * GiB - HpsScorer.DeviceHeadroomBytes) / perItem), HpsScorer.AutoBatchSize(Qwen2VLConfig.Released7B, Precision.Bf16, 200704, 10 * GiB));
        Assert.Equal(53, HpsScorer.AutoBatchSize(Qwen2VLConfig.Released7B, Precision.Bf16, 200704, 10 * GiB));
        Assert.Equal(26, HpsScorer.AutoBatchSize(Qwen2VLConfig.Released7B, Precision.Fp32, 200704, 10 * GiB));
    }

    [Fact]
    public void ItStaysBetweenOneAndSixtyFour()
    {
        Assert.Equal(1, HpsScorer.AutoBatchSize(Qwen2VLConfig.Released7B, Precision.Bf16, 200704, GiB / 2));
        Assert.Equal(64, HpsScorer.AutoBatchSize(Qwen2VLConfig.Released7B, Precision.Bf16, 200704, 140 * GiB));
    }
}

[Trait("Category", "Model")]
public sealed class AutoBatchSizeLoadTests
{
    [Fact]
    public void BatchSizeZero_IsAcceptedAsAutomatic_NegativeIsRefused()
    {
        var scorer = HpsScorer.Load(TinyFixture.ModelDir, new HpsScorerOptions(Precision.Fp32, DeviceSpec.Cpu, BatchSize: 0, TokenizerDir: HpsSharp.Testing.TestPaths.TokenizerDir));
        using (scorer)
        {
            Assert.Equal(4, scorer.BatchSize);
        }

        Assert.Throws<HpsSharp.Core.UserInputException>(() => HpsScorer.Load(TinyFixture.ModelDir, new HpsScorerOptions(BatchSize: -1)));
    }
}
