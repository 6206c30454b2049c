using System.Text.Json;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Video;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HpsSharp.Server.Protocols;

/// <summary>
/// <c>POST /score</c>: UniRL's RewardService protocol (Tencent-Hunyuan/UniRL
/// <c>unirl-reward-service/reward_service/schemas.py</c>). Body <c>{"requests": [{"history": [{"text",
/// "image_b64" | "video_b64"}], "required_rewards": [..], "metadata"?, "request_id"?, ...}]}</c>; the last turn of
/// the history is scored, as upstream's <c>split_last_turn</c> does. Answer <c>{"results": [{reward: {reward:
/// value}}], "errors": [{reward: message}], "identities": [...], "protocol_version": "1"}</c>, one entry per request.
/// Rewards served: <c>hpsv3</c> (an image) and <c>videohpsv3</c> (a video: per-frame HPSv3, mean of the best 30%).
/// </summary>
public static class UniRlProtocol
{
    private static readonly string[] IdentityFields = ["request_id", "sample_id", "group_id", "source_rank", "policy_version", "idempotency_key"];

    /// <summary>The reward names this service answers, and the input each needs.</summary>
    public static readonly IReadOnlyDictionary<string, string> Rewards = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["hpsv3"] = "image_b64",
        ["videohpsv3"] = "video_b64",
    };

    /// <summary>Maps <c>POST /score</c> and <c>GET /rewards</c>.</summary>
    public static IEndpointRouteBuilder MapUniRl(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPost("/score", HandleAsync).WithSummary("UniRL RewardService: {requests: [{history, required_rewards}]} -> {results, errors, identities, protocol_version}");
        app.MapGet("/rewards", () => TypedResults.Text(new JsonArray([.. Rewards.Keys.Select(k => (JsonNode)k)]).ToJsonString(), "application/json"))
            .WithSummary("UniRL: the reward names this service serves");
        return app;
    }

    private sealed record Entry(string? Prompt, string? Image, string? Video, string[] Rewards, string? Error, JsonObject Identity);

    private static Task<IResult> HandleAsync(HttpContext ctx, ScoringQueue queue, RewardServiceOptions options, ImageReader images, IServiceProvider services) =>
        ScoringEndpoints.Guard(ctx, async () =>
        {
            var selection = ProtocolSupport.Selection(ctx.Request.Query["reward"], ctx.Request.Query["k"], options);
            var body = await ProtocolSupport.ReadBodyAsync(ctx.Request, options, ctx.RequestAborted).ConfigureAwait(false);
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 });
            }
            catch (JsonException ex)
            {
                throw new RequestRejectedException(400, "malformed JSON", ex.Message);
            }

            using var _ = doc;
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("requests", out var reqs) || reqs.ValueKind != JsonValueKind.Array)
            {
                throw new RequestRejectedException(400, "bad request", "the body needs \"requests\": an array of {\"history\", \"required_rewards\"}");
            }

            if (doc.RootElement.TryGetProperty("grad_mode", out var gm) && gm.ValueKind == JsonValueKind.True)
            {
                throw new RequestRejectedException(400, "bad request", "grad_mode (differentiable scoring over CUDA IPC) is not supported by this service");
            }

            ProtocolSupport.CheckItemCount(reqs.GetArrayLength(), options);
            var entries = reqs.EnumerateArray().Select((r, i) => Parse(r, i)).ToList();

            // Every requested (entry, reward) pair that can run becomes scoring work; images go straight to the
            // queue, videos through the frame scorer. Both run concurrently.
            var imageItems = new List<(int Entry, ParsedItem Item)>();
            var videoWork = new List<(int Entry, Task<VideoItemResult> Task)>();
            var videos = VideoScoring.Get(services);
            for (int i = 0; i < entries.Count; i++)
            {
                var e = entries[i];
                if (e.Error is not null)
                {
                    continue;
                }

                if (e.Rewards.Contains("hpsv3") && e.Image is not null)
                {
                    imageItems.Add((i, Decode(images, e.Prompt!, e.Image, $"requests[{i}]")));
                }

                if (e.Rewards.Contains("videohpsv3") && e.Video is not null && videos is not null)
                {
                    videoWork.Add((i, videos.ScoreBase64Async(ctx, e.Prompt!, e.Video, new VideoOptions(Stride: 1, Aggregate: VideoAggregate.TopFraction(0.3)), $"requests[{i}]")));
                }
            }

            var imageResults = imageItems.Count > 0
                ? (await ScoringEndpoints.RunAsync(ctx, queue, options, [.. imageItems.Select(x => x.Item)]).ConfigureAwait(false)).Results
                : [];
            var videoResults = await Task.WhenAll(videoWork.Select(v => v.Task)).ConfigureAwait(false);

            var imageRewards = ProtocolSupport.Rewards(selection, imageResults, [.. imageItems.Select(x => entries[x.Entry].Prompt!)], options);
            var results = new JsonArray();
            var errors = new JsonArray();
            var result = entries.Select(_ => new JsonObject()).ToArray();
            var error = entries.Select(_ => new JsonObject()).ToArray();
            for (int k = 0; k < imageItems.Count; k++)
            {
                int i = imageItems[k].Entry;
                if (imageRewards[k] is { } v)
                {
                    result[i]["hpsv3"] = new JsonObject { ["hpsv3"] = v };
                }
                else
                {
                    error[i]["hpsv3"] = imageResults[k].Error;
                }
            }

            for (int k = 0; k < videoWork.Count; k++)
            {
                int i = videoWork[k].Entry;
                var vr = videoResults[k];
                double? v = vr.Error is null ? selection.Kind switch
                {
                    RewardKind.Percentile => options.Calibration!.Percentile(vr.Mu),
                    _ => vr.Mu,
                } : null;
                if (v is { } value)
                {
                    result[i]["videohpsv3"] = new JsonObject { ["videohpsv3"] = value };
                }
                else
                {
                    error[i]["videohpsv3"] = vr.Error;
                }
            }

            for (int i = 0; i < entries.Count; i++)
            {
                var e = entries[i];
                if (e.Error is not null)
                {
                    foreach (var r in e.Rewards.DefaultIfEmpty("hpsv3"))
                    {
                        error[i][r] = e.Error;
                    }
                }
                else
                {
                    foreach (var r in e.Rewards)
                    {
                        if (!Rewards.TryGetValue(r, out var input))
                        {
                            error[i][r] = $"requests[{i}]: unknown reward '{r}'; this service serves {string.Join(", ", Rewards.Keys)}";
                        }
                        else if ((input == "image_b64" && e.Image is null) || (input == "video_b64" && e.Video is null))
                        {
                            error[i][r] = $"requests[{i}]: reward '{r}' needs \"{input}\" on the last history turn";
                        }
                        else if (r == "videohpsv3" && videos is null)
                        {
                            error[i][r] = $"requests[{i}]: video decoding is not available in this service";
                        }
                    }
                }

                results.Add(result[i]);
                errors.Add(error[i]);
            }

            var answer = new JsonObject
            {
                ["results"] = results,
                ["errors"] = errors,
                ["identities"] = new JsonArray([.. entries.Select(e => (JsonNode)e.Identity)]),
                ["protocol_version"] = "1",
            };
            return TypedResults.Text(answer.ToJsonString(), "application/json");
        });

    private static ParsedItem Decode(ImageReader images, string prompt, string b64, string name)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(b64);
        }
        catch (FormatException)
        {
            return new ParsedItem(null, $"{name}: \"image_b64\" is not valid base64");
        }

        try
        {
            return new ParsedItem(new ScoreRequest(prompt, images.FromEncoded(bytes, name)), null);
        }
        catch (ItemRejectedException ex)
        {
            return new ParsedItem(null, ex.Message);
        }
    }

    private static Entry Parse(JsonElement r, int i)
    {
        string name = $"requests[{i}]";
        var identity = new JsonObject();
        if (r.ValueKind != JsonValueKind.Object)
        {
            return new Entry(null, null, null, [], $"{name}: must be an object with \"history\" and \"required_rewards\"", identity);
        }

        foreach (var f in IdentityFields)
        {
            identity[f] = r.TryGetProperty(f, out var v) && v.ValueKind is JsonValueKind.String or JsonValueKind.Number ? JsonNode.Parse(v.GetRawText()) : null;
        }

        string[] rewards = r.TryGetProperty("required_rewards", out var rr) && rr.ValueKind == JsonValueKind.Array
            ? [.. rr.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : x.GetRawText())]
            : [];
        if (rewards.Length == 0)
        {
            return new Entry(null, null, null, [], $"{name}: \"required_rewards\" must be a non-empty list of reward names", identity);
        }

        if (!r.TryGetProperty("history", out var h) || h.ValueKind != JsonValueKind.Array || h.GetArrayLength() == 0)
        {
            return new Entry(null, null, null, rewards, $"{name}: \"history\" must be a non-empty list of turns", identity);
        }

        var turn = h[h.GetArrayLength() - 1];
        if (turn.ValueKind != JsonValueKind.Object || !turn.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
        {
            return new Entry(null, null, null, rewards, $"{name}: the last history turn needs \"text\" (the prompt)", identity);
        }

        string? Str(string key) => turn.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        if (Str("image_ipc") is not null || Str("video_path") is not null)
        {
            return new Entry(null, null, null, rewards, $"{name}: image_ipc and video_path are not accepted here; send image_b64 or video_b64", identity);
        }

        string? image = Str("image_b64"), video = Str("video_b64");
        if (image is null && video is null)
        {
            return new Entry(null, null, null, rewards, $"{name}: the last history turn needs \"image_b64\" or \"video_b64\"", identity);
        }

        return new Entry(t.GetString(), image, video, rewards, null, identity);
    }
}
