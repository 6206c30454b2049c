using HpsSharp.Core.Scoring;

namespace HpsSharp.Core.Video;

/// <summary>One frame's score within a clip.</summary>
public sealed record FrameScore(int Index, double Time, Score? Score, string? Error);

/// <summary>A clip's result: μ is the aggregate of its frames' μ; <see cref="Error"/> instead when it failed.</summary>
public sealed record VideoScoreResult(string Video, string Prompt, double? Mu, string? Aggregate, IReadOnlyList<FrameScore> Frames, string? Error)
{
    /// <summary>True when the clip was scored.</summary>
    public bool Ok => Mu is not null;
}

/// <summary>
/// Video rewards: decode each clip's sampled frames, score the frames of all clips in one scorer call (so they
/// are batched together), and aggregate each clip's frame scores. A clip that cannot be decoded is an error for
/// that clip only.
/// </summary>
public static class VideoScorer
{
    /// <summary>Scores (video path, prompt) pairs; results in input order.</summary>
    public static async Task<IReadOnlyList<VideoScoreResult>> ScoreAsync(
        IScorer scorer,
        IVideoDecoder decoder,
        IReadOnlyList<(string Video, string Prompt)> clips,
        FrameSampling sampling,
        VideoAggregate aggregate,
        long maxPixelsPerFrame,
        IProgress<ScoreProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentNullException.ThrowIfNull(clips);
        ArgumentNullException.ThrowIfNull(sampling);
        ArgumentNullException.ThrowIfNull(aggregate);

        var decoded = new IReadOnlyList<VideoFrame>?[clips.Count];
        var errors = new string?[clips.Count];
        for (int c = 0; c < clips.Count; c++)
        {
            try
            {
                decoded[c] = await decoder.DecodeAsync(clips[c].Video, sampling, maxPixelsPerFrame, cancellationToken).ConfigureAwait(false);
            }
            catch (VideoDecodeException ex)
            {
                errors[c] = ex.Reason;
            }
        }

        var requests = new List<ScoreRequest>();
        for (int c = 0; c < clips.Count; c++)
        {
            foreach (var f in decoded[c] ?? [])
            {
                requests.Add(new ScoreRequest(clips[c].Prompt, ImageInput.FromRgb(f.Image.Pixels, f.Image.Width, f.Image.Height, $"{clips[c].Video}#{f.Index}")));
            }
        }

        var scored = requests.Count > 0 ? await scorer.ScoreAsync(requests, progress, cancellationToken).ConfigureAwait(false) : [];
        var results = new VideoScoreResult[clips.Count];
        int next = 0;
        for (int c = 0; c < clips.Count; c++)
        {
            var (video, prompt) = clips[c];
            if (decoded[c] is not { } frames)
            {
                results[c] = new VideoScoreResult(video, prompt, null, null, [], errors[c]);
                continue;
            }

            var frameScores = new List<FrameScore>(frames.Count);
            foreach (var f in frames)
            {
                var r = scored[next++];
                frameScores.Add(new FrameScore(f.Index, f.Time, r.Score is { } s && double.IsFinite(s.Mu) ? s : null, r.Score is null ? r.Error : double.IsFinite(r.Score.Value.Mu) ? null : "non-finite score"));
            }

            var ok = frameScores.Where(f => f.Score is not null).Select(f => f.Score!.Value.Mu).ToList();
            results[c] = ok.Count == 0
                ? new VideoScoreResult(video, prompt, null, null, frameScores, $"no frame could be scored ({frameScores[0].Error})")
                : new VideoScoreResult(video, prompt, aggregate.Apply(ok), aggregate.Name, frameScores, null);
        }

        return results;
    }
}
