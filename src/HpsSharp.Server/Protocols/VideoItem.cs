using System.Text.Json;
using HpsSharp.Core.Video;
using Microsoft.AspNetCore.Http;

namespace HpsSharp.Server.Protocols;

/// <summary>
/// A <c>/v1/score</c> item with <c>"video"</c> (base64 clip) instead of <c>"image"</c>, and optional
/// <c>"frames"</c> | <c>"stride"</c> and <c>"aggregate"</c> (<c>mean</c>, <c>min</c>, <c>top_fraction:F</c>).
/// </summary>
public sealed record VideoItem(string Prompt, string Base64, VideoOptions Options)
{
    /// <summary>Parses the video fields of an item; a bad field is an error for this item only.</summary>
    public static ParsedItem Parse(JsonElement item, JsonElement video, string prompt, string name)
    {
        if (video.ValueKind != JsonValueKind.String)
        {
            return new ParsedItem(null, $"{name}: \"video\" must be a base64 string");
        }

        int? frames = null, stride = null;
        if (item.TryGetProperty("frames", out var f))
        {
            if (f.ValueKind != JsonValueKind.Number || !f.TryGetInt32(out int n) || n < 1)
            {
                return new ParsedItem(null, $"{name}: \"frames\" must be an integer ≥ 1");
            }

            frames = n;
        }

        if (item.TryGetProperty("stride", out var s))
        {
            if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt32(out int n) || n < 1)
            {
                return new ParsedItem(null, $"{name}: \"stride\" must be an integer ≥ 1");
            }

            stride = n;
        }

        if (frames is not null && stride is not null)
        {
            return new ParsedItem(null, $"{name}: give \"frames\" or \"stride\", not both");
        }

        var aggregate = VideoAggregate.Mean;
        if (item.TryGetProperty("aggregate", out var a))
        {
            if (VideoAggregate.Parse(a.ValueKind == JsonValueKind.String ? a.GetString() : null) is not { } parsed)
            {
                return new ParsedItem(null, $"{name}: \"aggregate\" must be mean, min or top_fraction:F with F in (0, 1]");
            }

            aggregate = parsed;
        }

        return new ParsedItem(null, null) { Video = new VideoItem(prompt, video.GetString()!, new VideoOptions(frames, stride, aggregate)) };
    }

    /// <summary>Reads <c>"reward"</c> and <c>"k"</c> from a request body (type errors are 400s).</summary>
    public static (string? Name, double K) ReadReward(JsonElement root)
    {
        string? name = null;
        double k = 1.0;
        if (root.TryGetProperty("reward", out var r) && r.ValueKind != JsonValueKind.Null)
        {
            name = r.ValueKind == JsonValueKind.String
                ? r.GetString()
                : throw new RequestRejectedException(400, "bad request", "\"reward\" must be a string: mu, mu_minus_k_sigma, percentile or group_z");
        }

        if (root.TryGetProperty("k", out var kv) && kv.ValueKind != JsonValueKind.Null)
        {
            k = kv.ValueKind == JsonValueKind.Number ? kv.GetDouble() : throw new RequestRejectedException(400, "bad request", "\"k\" must be a number");
        }

        return (name, k);
    }

    /// <summary>
    /// Runs image items through the queue and video items through <see cref="VideoScoring"/> at the same time (so
    /// frames of every clip and the images share batches), and returns one result per item in input order.
    /// </summary>
    internal static async Task<(IReadOnlyList<ItemResultDto> Results, ModelRecord Model)> RunWithVideosAsync(
        HttpContext ctx, ScoringQueue queue, RewardServiceOptions options, IReadOnlyList<ParsedItem> items)
    {
        var videoIdx = Enumerable.Range(0, items.Count).Where(i => items[i].Video is not null).ToList();
        if (videoIdx.Count == 0)
        {
            return await ScoringEndpoints.RunAsync(ctx, queue, options, items).ConfigureAwait(false);
        }

        var scoring = VideoScoring.Get(ctx.RequestServices)
            ?? throw new RequestRejectedException(400, "bad request", "video items need a video decoder, which this service does not have");
        var videoTasks = videoIdx.Select(i => scoring.ScoreBase64Async(ctx, items[i].Video!.Prompt, items[i].Video!.Base64, items[i].Video!.Options, $"items[{i}]")).ToList();
        var imageIdx = Enumerable.Range(0, items.Count).Where(i => items[i].Video is null).ToList();
        var imageTask = imageIdx.Count > 0
            ? ScoringEndpoints.RunAsync(ctx, queue, options, [.. imageIdx.Select(i => items[i])])
            : Task.FromResult<(IReadOnlyList<ItemResultDto>, ModelRecord)>(([], ModelRecord.From(queue.Model ?? throw new RequestRejectedException(503, "not ready", "the model is loading"))));
        var videos = await Task.WhenAll(videoTasks).ConfigureAwait(false);
        var (imageResults, model) = await imageTask.ConfigureAwait(false);

        var results = new ItemResultDto[items.Count];
        for (int k = 0; k < imageIdx.Count; k++)
        {
            results[imageIdx[k]] = imageResults[k];
        }

        for (int k = 0; k < videoIdx.Count; k++)
        {
            var v = videos[k];
            if (v.Error is not null)
            {
                results[videoIdx[k]] = ItemResultDto.Failed(v.Error, v.Frames.Count == 0 ? 400 : 422) with { Frames = v.Frames.Count > 0 ? v.Frames : null };
                continue;
            }

            // σ of a clip: the frames' mean log σ, so μ − kσ and σ-based monitors mean the same for clips and images.
            // A scorer without σ (a baseline) gives point scores: the clip then carries only "score".
            var sigmas = v.Frames.Where(f => f.LogSigma is not null).ToList();
            results[videoIdx[k]] = sigmas.Count > 0
                ? new ItemResultDto(v.Mu, sigmas.Average(f => f.LogSigma!.Value), Math.Exp(sigmas.Average(f => f.LogSigma!.Value)), null, null, null) { Score = v.Mu, Scorer = model.Scorer, Aggregate = v.Aggregate, Frames = v.Frames }
                : new ItemResultDto(null, null, null, null, null, null) { Score = v.Mu, Scorer = model.Scorer, Aggregate = v.Aggregate, Frames = v.Frames };
        }

        return (results, model);
    }
}
