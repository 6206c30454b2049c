using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Modeling;
using HpsSharp.Modeling.Scorers;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>Loads the scorer <see cref="ScorerOptions.Scorer"/> names: HPSv3 from its folder, a baseline through the registry.</summary>
internal static class DefaultScorerLoader
{
    public static IScorer Load(ScorerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var name = ScorerRegistry.Find(options.Scorer).Name;
        // Deterministic: every forward holds one item, so no padding and no matrix shape depends on other items.
        if (name == ScorerRegistry.Default)
        {
            return HpsScorer.Load(options.ModelDir, new HpsScorerOptions(options.Dtype, options.Device, options.Deterministic ? 1 : options.BatchSize));
        }

        if (options.Device.Kind != ComputeDevice.Cpu)
        {
            throw UserInputException.ForOption(DeviceSpec.Field, $"the {name} scorer runs on the CPU only in this build");
        }

        var scorer = ScorerRegistry.LoadBaseline(name, new BaselineScorerOptions(options.ModelDir, options.TokenizerDir, options.Antialias, options.CaptionPrefix));
        return scorer.WithBatchSize(options.Deterministic ? 1 : options.BatchSize);
    }
}
