using HpsSharp.Core.Scoring;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace HpsSharp.Server;

/// <summary><c>POST /v1/score</c>, <c>/v1/compare</c>, <c>/v1/rank</c>: parse, queue, await, answer in input order.</summary>
public static class ScoringEndpoints
{
    public static IEndpointRouteBuilder MapScoring(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // The OpenAPI document is generated from these: the typed results give the 200 schemas, WithDocumentedBody the
        // request schemas (the bodies are read by RequestParser, which answers a bad item with a per-item error).
        app.MapPost("/v1/score", ScoreAsync)
            .WithDocumentedBody<ScoreRequestDto>()
            .WithSummary("Score (prompt, image) items; results in input order, a bad item gets an error without failing the others")
            .WithDescription("JSON with base64 images, or multipart with fields prompt[i] and file parts image[i]. \"scorers\" or \"rewards\" score every item with several hosted scorers (one entry per scorer under \"scorers\"; with \"rewards\", \"reward\" is the weighted mix).")
            .WithRequestProblems();
        app.MapPost("/v1/compare", CompareAsync)
            .WithDocumentedBody<CompareRequestDto>()
            .WithSummary("P(A preferred over B) for one prompt, with both scores")
            .WithRequestProblems()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        app.MapPost("/v1/rank", RankAsync)
            .WithDocumentedBody<RankRequestDto>()
            .WithSummary("Order images for one prompt, best first (best-of-N)")
            .WithRequestProblems();
        return app;
    }

    /// <summary>The problem answers every scoring endpoint may give (RFC 9457 problem details).</summary>
    private static RouteHandlerBuilder WithRequestProblems(this RouteHandlerBuilder builder) => builder
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    private static Task<Results<Ok<ScoreResponseDto>, ProblemHttpResult, EmptyHttpResult>> ScoreAsync(HttpContext ctx, RequestParser parser, ScoringQueue queue, RewardServiceOptions options, ServiceMetrics metrics) =>
        GuardOk(ctx, async () =>
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            var body = await parser.ReadScoreAsync(ctx.Request, ctx.RequestAborted).ConfigureAwait(false);
            metrics.RecordParse(ctx.Request.HasFormContentType ? "multipart" : "json", System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
            if (body.Scorers is not null)
            {
                return await MultiScorer.ScoreAsync(ctx, queue, options, body).ConfigureAwait(false);
            }

            var selection = Protocols.ProtocolSupport.Selection(body.Reward.Name, body.Reward.K, options);
            var (results, model) = await Protocols.VideoItem.RunWithVideosAsync(ctx, queue, options, body.Items).ConfigureAwait(false);
            if (body.GroupNormalize)
            {
                results = GroupNormalize(body.Items, results);
            }

            results = Protocols.ProtocolSupport.Annotate(selection, results, [.. body.Items.Select(i => i.Request?.Prompt ?? i.Video?.Prompt ?? string.Empty)], options, body.Reward.Name is not null);
            return new ScoreResponseDto(model, results);
        });

    private static Task<Results<Ok<CompareResponseDto>, ProblemHttpResult, EmptyHttpResult>> CompareAsync(HttpContext ctx, RequestParser parser, ScoringQueue queue, RewardServiceOptions options) =>
        GuardOk(ctx, async () =>
        {
            var (a, b) = await parser.ReadCompareAsync(ctx.Request, ctx.RequestAborted).ConfigureAwait(false);
            var (results, model) = await RunAsync(ctx, queue, options, [a, b]).ConfigureAwait(false);
            var failed = new[] { ("a", results[0]), ("b", results[1]) }.Where(r => r.Item2.Error is not null).ToList();
            if (failed.Count > 0)
            {
                int status = failed.Max(f => f.Item2.Status ?? 400);
                throw new RequestRejectedException(status, "image could not be scored", string.Join("; ", failed.Select(f => f.Item2.Error)));
            }

            // A scorer without σ gives no probability, only which image scores higher.
            double sa = results[0].Score!.Value, sb = results[1].Score!.Value;
            double? p = results[0].LogSigma is { } la && results[1].LogSigma is { } lb
                ? Preference.ProbabilityAOverB(new Score(sa, la), new Score(sb, lb))
                : null;
            return new CompareResponseDto(model, p, results[0], results[1]) { Preferred = sa > sb ? "a" : sa < sb ? "b" : "tie" };
        });

    private static Task<Results<Ok<RankResponseDto>, ProblemHttpResult, EmptyHttpResult>> RankAsync(HttpContext ctx, RequestParser parser, ScoringQueue queue, RewardServiceOptions options) =>
        GuardOk(ctx, async () =>
        {
            var items = await parser.ReadRankAsync(ctx.Request, ctx.RequestAborted).ConfigureAwait(false);
            var (results, model) = await RunAsync(ctx, queue, options, items).ConfigureAwait(false);
            var order = Enumerable.Range(0, results.Count)
                .Where(i => results[i].Score is not null)
                .OrderByDescending(i => results[i].Score!.Value)
                .ThenBy(i => i)
                .ToArray();
            return new RankResponseDto(model, order, results);
        });

    /// <summary>Queues the valid items, waits for all of them and returns one result per item in input order.</summary>
    internal static async Task<(IReadOnlyList<ItemResultDto> Results, ModelRecord Model)> RunAsync(
        HttpContext ctx, ScoringQueue queue, RewardServiceOptions options, IReadOnlyList<ParsedItem> items)
    {
        var valid = items.Where(i => i.Request is not null).Select(i => i.Request!).ToList();
        Task<ScoreResult>[] tasks = [];
        if (valid.Count > 0)
        {
            var status = queue.TryEnqueue(valid, ctx.RequestAborted, out tasks);
            if (status != EnqueueStatus.Accepted)
            {
                ctx.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                throw status == EnqueueStatus.QueueFull
                    ? new RequestRejectedException(503, "queue full",
                        $"the queue holds {queue.Depth} of {options.QueueCapacity} items and cannot take {valid.Count} more; retry after {options.RetryAfterSeconds} s",
                        "queue_capacity", options.QueueCapacity)
                    : new RequestRejectedException(503, "not ready",
                        queue.LoadError is null ? "the model is loading or the service is stopping" : "the model failed to load");
            }

            try
            {
                await Task.WhenAll(tasks).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ctx.RequestAborted.IsCancellationRequested)
            {
                throw new RequestRejectedException(503, "shutting down", "the service stopped before these items were scored");
            }

            ctx.RequestServices.GetService<Monitoring.RewardMonitor>()?.Record([.. tasks.Select(t => t.Result)]);
        }

        var results = new ItemResultDto[items.Count];
        int t = 0;
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].Request is null)
            {
                results[i] = ItemResultDto.Failed(items[i].Error!, 400);
                continue;
            }

            var r = tasks[t++].Result;
            results[i] = ToDto(r, queue.Model!.Scorer);
        }

        return (results, ModelRecord.From(queue.Model!));
    }

    /// <summary>One scorer's result as an item answer: a score, or a 422 error for a failed or non-finite one.</summary>
    internal static ItemResultDto ToDto(ScoreResult r, string scorer) => r.Score is { } s
        ? double.IsFinite(s.Mu) && (!s.HasUncertainty || double.IsFinite(s.LogSigma))
            ? ItemResultDto.From(s, scorer)
            : ItemResultDto.Failed($"{r.Request.Image.Name}: the scorer returned a non-finite score", 422) with { Scorer = scorer }
        : ItemResultDto.Failed($"{r.Request.Image.Name}: {r.Error}", 422) with { Scorer = scorer };

    /// <summary>
    /// z = (score − mean) / std over the scored items of the request that share the prompt (population std). A group of
    /// one item, or one whose μ are all equal, gets z = 0: there is no spread to normalise by.
    /// </summary>
    public static IReadOnlyList<ItemResultDto> GroupNormalize(IReadOnlyList<ParsedItem> items, IReadOnlyList<ItemResultDto> results)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(results);
        var output = results.ToArray();
        var groups = Enumerable.Range(0, items.Count)
            .Where(i => results[i].Score is not null)
            .GroupBy(i => items[i].Request?.Prompt ?? items[i].Video?.Prompt ?? string.Empty, StringComparer.Ordinal);
        foreach (var g in groups)
        {
            var idx = g.ToArray();
            double mean = idx.Average(i => results[i].Score!.Value);
            double std = Math.Sqrt(idx.Sum(i => Math.Pow(results[i].Score!.Value - mean, 2)) / idx.Length);
            foreach (int i in idx)
            {
                double z = std > 1e-12 ? (results[i].Score!.Value - mean) / std : 0.0;
                output[i] = output[i] with { GroupZ = z };
            }
        }

        return output;
    }

    /// <summary>
    /// <see cref="Guard(HttpContext, Func{Task{IResult}})"/> for a handler with a typed answer: 200 with it, or the
    /// problem (the typed union is what the OpenAPI document is generated from).
    /// </summary>
    internal static async Task<Results<Ok<T>, ProblemHttpResult, EmptyHttpResult>> GuardOk<T>(HttpContext ctx, Func<Task<T>> handler)
    {
        var result = await Guard(ctx, async () => (IResult)TypedResults.Ok(await handler().ConfigureAwait(false))).ConfigureAwait(false);
        return result switch
        {
            Ok<T> ok => ok,
            ProblemHttpResult problem => problem,
            _ => TypedResults.Empty,
        };
    }

    internal static async Task<IResult> Guard(HttpContext ctx, Func<Task<IResult>> handler)
    {
        try
        {
            return await handler().ConfigureAwait(false);
        }
        catch (RequestRejectedException ex)
        {
            return Problem(ex);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            var options = ctx.RequestServices.GetService(typeof(RewardServiceOptions)) as RewardServiceOptions;
            return Problem(new RequestRejectedException(413, "request body too large",
                $"the body is larger than the limit max_request_body_bytes = {options?.MaxRequestBodyBytes}", "max_request_body_bytes", options?.MaxRequestBodyBytes));
        }
        catch (BadHttpRequestException ex)
        {
            return Problem(new RequestRejectedException(ex.StatusCode, "bad request", ex.Message));
        }
        catch (InvalidOperationException ex) when (ex.Source?.StartsWith("System.Text.Json", StringComparison.Ordinal) == true)
        {
            // System.Text.Json parses such text and only refuses it when a string is read: invalid UTF-8 bytes, or an
            // escaped lone surrogate ("\ud800"). Either is a malformed request, not a server error.
            return Problem(new RequestRejectedException(400, "malformed JSON", $"a string is not valid text: {ex.Message}"));
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            return TypedResults.Empty; // the client is gone; nobody reads this answer
        }
    }

    /// <summary>A problem+json answer; a limit, when one was exceeded, is named in <c>limit</c> and its value in <c>max</c>.</summary>
    public static ProblemHttpResult Problem(RequestRejectedException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        var extensions = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (ex.Limit is not null)
        {
            extensions["limit"] = ex.Limit;
            extensions["max"] = ex.Max;
        }

        return TypedResults.Problem(ex.Detail, statusCode: ex.Status, title: ex.Title, extensions: extensions);
    }
}
