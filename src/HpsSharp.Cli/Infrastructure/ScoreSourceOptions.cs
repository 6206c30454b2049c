using System.CommandLine;
using HpsSharp.Evaluation;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// Where <c>hps eval</c> and <c>hps benchmark</c> get scores: a model (the shared model options plus the score
/// cache) or a precomputed scores file — exactly one of the two.
/// </summary>
public sealed class ScoreSourceOptions(string scoresDescription)
{
    public ModelOptions Model { get; } = new(required: false);

    public Option<string> Scores { get; } = new("--scores") { Description = scoresDescription };

    public Option<string> Cache { get; } = new("--cache") { Description = "Score cache file (SQLite; default $HPS_CACHE_DIR or ~/.cache/hpssharp/scores.sqlite)" };

    public Option<bool> NoCache { get; } = new("--no-cache") { Description = "Do not read or write the score cache" };

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Model.AddTo(command);
        command.Options.Add(Scores);
        command.Options.Add(Cache);
        command.Options.Add(NoCache);
        command.Validators.Add(r =>
        {
            if ((r.GetResult(Model.Model) is null) == (r.GetResult(Scores) is null))
            {
                r.AddError("give exactly one of --model DIR or --scores FILE");
            }
        });
    }

    /// <summary>The scores file, or null when a model is used.</summary>
    public string? ScoresFile(ParseResult parse) => parse.GetValue(Scores);

    /// <summary>The cache path to use with a model (null with --no-cache).</summary>
    public string? CachePath(ParseResult parse) => parse.GetValue(NoCache) ? null : parse.GetValue(Cache) ?? ScoreCache.DefaultPath();
}
