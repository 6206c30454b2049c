using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Core.Video;
using HpsSharp.Media;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps score --video FILE --prompt TEXT</c>: the video reward path of <c>hps score</c>.</summary>
internal static class ScoreVideo
{
    /// <summary>Parses the sampling and aggregate flags (usage errors name the flag).</summary>
    public static (FrameSampling Sampling, VideoAggregate Aggregate) Options(int? frames, int? stride, string? aggregate)
    {
        if (frames is not null && stride is not null)
        {
            throw new UserInputException("--frames", "use --frames N or --stride S, not both");
        }

        if (frames is < 1)
        {
            throw new UserInputException("--frames", $"must be at least 1 (got {frames})");
        }

        if (stride is < 1)
        {
            throw new UserInputException("--stride", $"must be at least 1 (got {stride})");
        }

        var agg = aggregate is null ? VideoAggregate.Mean : VideoAggregate.Parse(aggregate)
            ?? throw new UserInputException("--aggregate", $"must be mean, min or top_fraction:F with F in (0, 1], not '{aggregate}'");
        return (stride is { } s ? FrameSampling.EveryNth(s) : FrameSampling.Count(frames ?? 16), agg);
    }

    public static async Task<int> RunAsync(CliEnvironment env, IScorer scorer, string[] videos, string prompt, FrameSampling sampling, VideoAggregate aggregate, Calibration? calibration, bool json, CancellationToken ct)
    {
        foreach (var v in videos)
        {
            if (!File.Exists(v))
            {
                throw new FileNotFoundException($"video not found: {v}", v);
            }
        }

        var results = await ProgressReporter.RunAsync(env, "scoring frames", p => VideoScorer.ScoreAsync(
            scorer, new FfmpegVideoDecoder(), [.. videos.Select(v => (v, prompt))], sampling, aggregate, 40_000_000, p, ct)).ConfigureAwait(false);
        if (json)
        {
            env.Out.WriteLine(Json(scorer.Model, results, calibration));
        }
        else
        {
            var table = new Table().AddColumns("video", "frames", "μ", "aggregate", "min frame μ", "max frame μ");
            foreach (var r in results)
            {
                var ok = r.Frames.Where(f => f.Score is not null).Select(f => f.Score!.Value.Mu).ToList();
                table.AddRow(
                    Markup.Escape(r.Video),
                    r.Frames.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    r.Mu is { } mu ? ScoreCommand.F(mu) : "[red]error[/]",
                    r.Mu is null ? Markup.Escape(r.Error ?? string.Empty) : Markup.Escape(r.Aggregate ?? string.Empty),
                    ok.Count > 0 ? ScoreCommand.F(ok.Min()) : string.Empty,
                    ok.Count > 0 ? ScoreCommand.F(ok.Max()) : string.Empty);
            }

            env.Console.Write(table);
        }

        int failed = results.Count(r => !r.Ok);
        if (failed == 0)
        {
            return CliApp.Ok;
        }

        env.ErrorConsole.MarkupLine($"[red]error:[/] {failed} of {results.Count} video(s) could not be scored");
        foreach (var r in results.Where(r => !r.Ok))
        {
            env.Error.WriteLine($"  {r.Video}: {r.Error}");
        }

        return CliApp.UserError;
    }

    /// <summary><c>{"model", "results": [{"video", "prompt", "mu", "aggregate", "frames": [{"index", "time", "mu", "log_sigma"}]}]}</c>.</summary>
    /// <remarks>A non-finite number is an error for its frame or clip, never a number (JSON cannot hold one).</remarks>
    internal static string Json(ModelInfo model, IReadOnlyList<VideoScoreResult> results, Calibration? calibration)
    {
        var items = results.Select(r =>
        {
            var frames = r.Frames.Select(f => f.Score is { } s
                ? double.IsFinite(s.Mu) && (!s.HasUncertainty || double.IsFinite(s.LogSigma))
                    ? new FrameRecord(f.Index, f.Time, s.Mu, s.HasUncertainty ? s.LogSigma : null, null)
                    : new FrameRecord(f.Index, f.Time, null, null, "the model returned a non-finite score")
                : new FrameRecord(f.Index, f.Time, null, null, f.Error)).ToList();
            return r.Mu is { } mu && double.IsFinite(mu)
                ? new VideoRecord { Video = r.Video, Prompt = r.Prompt, Mu = mu, Aggregate = r.Aggregate, Percentile = calibration?.Percentile(mu), Frames = frames }
                : new VideoRecord { Video = r.Video, Prompt = r.Prompt, Error = r.Mu is null ? r.Error : "the frames aggregate to a non-finite score", Frames = frames };
        }).ToList();
        return ContractJson.Write(new VideoDocument(ModelRecord.From(model), items), ContractJson.Indented.VideoDocument);
    }
}
