using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>Loads the TorchSharp HPSv3 scorer from a model folder.</summary>
internal static class DefaultScorerLoader
{
    public static IScorer Load(ScorerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        throw new NotSupportedException("model loading is not wired yet (HpsScorer lands with the model issue)");
    }
}
