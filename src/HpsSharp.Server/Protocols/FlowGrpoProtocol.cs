using System.Collections;
using HpsSharp.Core.Scoring;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HpsSharp.Server.Protocols;

/// <summary>
/// <c>POST /</c>: the flow_grpo family's pickled reward-server protocol (flow_grpo <c>rewards.py</c> remote
/// rewards, yifan123/reward-server, the HPSv3 reward-server app). The request is a pickled dict
/// <c>{"images": [JPEG bytes, ...], "prompts": [str, ...], ...}</c> (other keys such as <c>"metadata"</c>,
/// <c>"meta_datas"</c>, <c>"only_strict"</c> are accepted and ignored); it is read by <see cref="RestrictedPickle"/>.
/// The answer is a pickled dict whose <c>"outputs"</c> (what flow_grpo's clients read) and <c>"scores"</c> (what
/// deepgen_rl-style clients read) are the rewards, or with <c>?format=list</c> the bare list of rewards that the
/// HPSv3 reward-server app returns. Field mapping: <c>docs/trainer-protocols.md</c>.
/// </summary>
public static class FlowGrpoProtocol
{
    /// <summary>Maps <c>POST /</c>.</summary>
    public static IEndpointRouteBuilder MapFlowGrpo(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPost("/", HandleAsync).WithSummary("flow_grpo family: a pickled dict {images, prompts, ...} read by a restricted reader -> a pickled dict of rewards (docs/trainer-protocols.md)");
        return app;
    }

    private static Task<IResult> HandleAsync(HttpContext ctx, ScoringQueue queue, RewardServiceOptions options, ImageReader images) =>
        ScoringEndpoints.Guard(ctx, async () =>
        {
            var q = ctx.Request.Query;
            var selection = ProtocolSupport.Selection(q["reward"], q["k"], options);
            bool bareList = (string?)q["format"] switch
            {
                null or "" or "dict" => false,
                "list" => true,
                var f => throw new RequestRejectedException(400, "bad request", $"format must be 'dict' or 'list', not '{f}'"),
            };
            double divisor = 1.0;
            if (q["divisor"] is { Count: > 0 } d && (!double.TryParse(d, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out divisor) || !double.IsFinite(divisor) || divisor == 0))
            {
                throw new RequestRejectedException(400, "bad request", $"divisor must be a finite non-zero number, not '{d}'");
            }

            var body = await ProtocolSupport.ReadBodyAsync(ctx.Request, options, ctx.RequestAborted).ConfigureAwait(false);
            object? root;
            try
            {
                root = RestrictedPickle.Loads(body);
            }
            catch (PickleRefusedException ex)
            {
                throw new RequestRejectedException(400, "pickle refused", ex.Message);
            }

            if (root is not IDictionary)
            {
                throw new RequestRejectedException(400, "bad request", "the pickle must hold a dict {\"images\": [JPEG bytes], \"prompts\": [str]}");
            }

            var imageList = RestrictedPickle.Get(root, "images") as IList
                ?? throw new RequestRejectedException(400, "bad request", "\"images\" must be a list of encoded image bytes (JPEG or PNG)");
            var promptList = RestrictedPickle.Get(root, "prompts") as IList
                ?? throw new RequestRejectedException(400, "bad request", "\"prompts\" must be a list of str, one per image (HPSv3 scores an image for its prompt)");
            ProtocolSupport.CheckItemCount(imageList.Count, options);
            if (promptList.Count != imageList.Count)
            {
                throw new RequestRejectedException(400, "bad request", $"{imageList.Count} images but {promptList.Count} prompts; they must pair one to one");
            }

            var items = new List<ParsedItem>(imageList.Count);
            var prompts = new string[imageList.Count];
            for (int i = 0; i < imageList.Count; i++)
            {
                string name = $"images[{i}]";
                prompts[i] = promptList[i] as string ?? string.Empty;
                if (promptList[i] is not string prompt)
                {
                    items.Add(new ParsedItem(null, $"prompts[{i}]: must be a str"));
                }
                else if (imageList[i] is not byte[] bytes)
                {
                    items.Add(new ParsedItem(null, $"{name}: must be bytes (an encoded JPEG or PNG)"));
                }
                else
                {
                    try
                    {
                        items.Add(new ParsedItem(new ScoreRequest(prompt, images.FromEncoded(bytes, name)), null));
                    }
                    catch (ItemRejectedException ex)
                    {
                        items.Add(new ParsedItem(null, ex.Message));
                    }
                }
            }

            var (results, model) = await ScoringEndpoints.RunAsync(ctx, queue, options, items).ConfigureAwait(false);
            var rewards = ProtocolSupport.Rewards(selection, results, prompts, options);

            // A failed item's reward is NaN so the list keeps one float per image (the clients index by position).
            var values = rewards.Select(r => (object)((r ?? double.NaN) / divisor)).ToList();
            object answer;
            if (bareList)
            {
                answer = values;
            }
            else
            {
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal)
                {
                    ["outputs"] = values,
                    ["scores"] = values,
                    ["reward"] = selection.Name,
                    ["mu"] = results.Select(r => (object)(r.Mu ?? double.NaN)).ToList(),
                    ["log_sigma"] = results.Select(r => (object)(r.LogSigma ?? double.NaN)).ToList(),
                    ["sigma"] = results.Select(r => (object)(r.Sigma ?? double.NaN)).ToList(),
                    ["errors"] = results.Select(r => (object?)r.Error).ToList(),
                    ["model"] = model.Name,
                    ["released_hpsv3"] = model.ReleasedHpsv3,
                };
                if (options.Calibration is { } c)
                {
                    dict["percentile"] = results.Select(r => (object)(r.Mu is { } mu ? c.Percentile(mu) : double.NaN)).ToList();
                }

                answer = dict;
            }

            return TypedResults.Bytes(RestrictedPickle.Dumps(answer), "application/octet-stream");
        });
}
