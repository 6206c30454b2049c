using HpsSharp.Core.Scoring;
using HpsSharp.Modeling;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>Loads the TorchSharp HPSv3 scorer from a model folder.</summary>
internal static class DefaultScorerLoader
{
    public static IScorer Load(ScorerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Deterministic: every forward holds one item, so no padding and no matrix shape depends on other items.
        return HpsScorer.Load(options.ModelDir, new HpsScorerOptions(options.Dtype, options.Device, options.Deterministic ? 1 : options.BatchSize));
    }
}
