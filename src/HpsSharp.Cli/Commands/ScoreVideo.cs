using System.Text;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;
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
    internal static string Json(ModelInfo model, IReadOnlyList<VideoScoreResult> results, Calibration? calibration)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            ScoreCommand.WriteModel(w, model);
            w.WriteStartArray("results");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("video", r.Video);
                w.WriteString("prompt", r.Prompt);
                if (r.Mu is { } mu)
                {
                    w.WriteNumber("mu", mu);
                    w.WriteString("aggregate", r.Aggregate);
                    if (calibration is not null)
                    {
                        w.WriteNumber("percentile", calibration.Percentile(mu));
                    }
                }
                else
                {
                    w.WriteString("error", r.Error);
                }

                w.WriteStartArray("frames");
                foreach (var f in r.Frames)
                {
                    w.WriteStartObject();
                    w.WriteNumber("index", f.Index);
                    w.WriteNumber("time", f.Time);
                    if (f.Score is { } s)
                    {
                        w.WriteNumber("mu", s.Mu);
                        w.WriteNumber("log_sigma", s.LogSigma);
                    }
                    else
                    {
                        w.WriteString("error", f.Error);
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
