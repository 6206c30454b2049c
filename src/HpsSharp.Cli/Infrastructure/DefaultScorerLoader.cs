using HpsSharp.Core.Scoring;
using HpsSharp.Modeling;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>Loads the TorchSharp HPSv3 scorer from a model folder.</summary>
internal static class DefaultScorerLoader
{
    public static IScorer Load(ScorerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return HpsScorer.Load(options.ModelDir, new HpsScorerOptions(options.Dtype, options.Device, options.BatchSize));
    }
}
