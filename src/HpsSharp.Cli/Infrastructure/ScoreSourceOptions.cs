using System.CommandLine;
using HpsSharp.Evaluation;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// Where <c>hps eval</c> and <c>hps benchmark</c> get scores: a model (the shared model options plus the score
/// cache) or a precomputed scores file — exactly one of the two; for <c>hps eval</c> also a cluster (the workers
/// hold the model; the score cache works the same).
/// </summary>
public sealed class ScoreSourceOptions(string scoresDescription, bool cluster = false)
{
    public ModelOptions Model { get; } = new(required: false);

    public Option<string> Scores { get; } = new("--scores") { Description = scoresDescription };

    public Option<string> Cache { get; } = new("--cache") { Description = "Score cache file (SQLite; default $HPS_CACHE_DIR or ~/.cache/hpssharp/scores.sqlite)" };

    public Option<bool> NoCache { get; } = new("--no-cache") { Description = "Do not read or write the score cache" };

    /// <summary>Score on a cluster (redis://HOST:PORT) instead of a local model; only when the command offers it.</summary>
    public Option<string?> Cluster { get; } = new("--cluster") { Description = "Score on a cluster's workers (redis://HOST:PORT) instead of loading a model here" };

    public Option<string> ClusterId { get; } = Commands.ClusterCommand.ClusterIdOption();

    public Option<string?> ModelFingerprint { get; } = new("--model-fingerprint") { Description = "With --cluster: the model the workers must run (default: the one every live worker runs)" };

    /// <summary>
    /// An option naming several scorers (<c>hps eval --scorers</c>); when it is given, the command checks the sources
    /// itself (each scorer has its folder or scores file), so the one-source rule here does not apply.
    /// </summary>
    public Option? SeveralScorers { get; set; }

    /// <summary>True when this command offers --cluster.</summary>
    public bool OffersCluster => cluster;

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Model.AddTo(command);
        command.Options.Add(Scores);
        command.Options.Add(Cache);
        command.Options.Add(NoCache);
        if (cluster)
        {
            command.Options.Add(Cluster);
            command.Options.Add(ClusterId);
            command.Options.Add(ModelFingerprint);
        }

        command.Validators.Add(r =>
        {
            if (SeveralScorers is not null && r.GetResult(SeveralScorers) is not null)
            {
                return;
            }

            int given = (r.GetResult(Model.Model) is null ? 0 : 1) + (r.GetResult(Scores) is null ? 0 : 1) + (cluster && r.GetResult(Cluster) is not null ? 1 : 0);
            if (given != 1)
            {
                r.AddError(cluster ? "give exactly one of --model DIR or --scores FILE (or --cluster redis://HOST:PORT to score on a cluster)" : "give exactly one of --model DIR or --scores FILE");
            }

            if (cluster && r.GetResult(Cluster) is null && r.GetResult(ModelFingerprint) is not null)
            {
                r.AddError("--model-fingerprint goes with --cluster");
            }
        });
    }

    /// <summary>The scores file, or null when a model is used.</summary>
    public string? ScoresFile(ParseResult parse) => parse.GetValue(Scores);

    /// <summary>The cluster to score on, or null.</summary>
    public HpsSharp.Cluster.ClusterAddress? ClusterAddress(ParseResult parse) =>
        cluster && parse.GetValue(Cluster) is { } c ? HpsSharp.Cluster.ClusterAddress.Parse(c, parse.GetValue(ClusterId)) : null;

    /// <summary>The cache path to use with a model (null with --no-cache).</summary>
    public string? CachePath(ParseResult parse) => parse.GetValue(NoCache) ? null : parse.GetValue(Cache) ?? ScoreCache.DefaultPath();
}
