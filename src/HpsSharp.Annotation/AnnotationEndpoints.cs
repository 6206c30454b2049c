using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.StaticFiles;

namespace HpsSharp.Annotation;

/// <summary>The page, the images and the JSON API of the annotation app.</summary>
public static class AnnotationEndpoints
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    /// <summary>Maps every route onto <paramref name="app"/>.</summary>
    public static void Map(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var page = Resource("index.html");
        var script = Resource("app.js");
        var style = Resource("app.css");
        app.MapGet("/", () => Page(page, "text/html; charset=utf-8"));
        app.MapGet("/app.js", () => Page(script, "text/javascript; charset=utf-8"));
        app.MapGet("/app.css", () => Page(style, "text/css; charset=utf-8"));
        app.MapGet("/healthz", () => TypedResults.Text("ok"));
        app.MapGet("/images/{**path}", Image);
        app.MapGet("/api/next", Next);
        app.MapGet("/api/progress", Progress);
        app.MapPost("/api/judgement", JudgeAsync);
    }

    /// <summary><c>GET /api/next?annotator=NAME</c>: 200 with the pair, or 204 when nothing is left for NAME.</summary>
    public static Results<Ok<NextDto>, NoContent, ProblemHttpResult> Next(string? annotator, AnnotationQueue queue, ImageCatalog images, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(context);
        NoStore(context);
        if (!TryAnnotator(annotator, out var name, out var problem))
        {
            return problem;
        }

        var next = queue.Next(name);
        if (next is null)
        {
            return TypedResults.NoContent();
        }

        var (left, right) = next.LeftIsPath1 ? (next.Pair.Path1, next.Pair.Path2) : (next.Pair.Path2, next.Pair.Path1);
        return TypedResults.Ok(new NextDto(next.Pair.Id, next.Pair.Prompt, images.UrlOf(left), images.UrlOf(right), next.Done, next.Total));
    }

    /// <summary><c>GET /api/progress?annotator=NAME</c>.</summary>
    public static Results<Ok<ProgressDto>, ProblemHttpResult> Progress(string? annotator, AnnotationQueue queue, HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(context);
        NoStore(context);
        if (!TryAnnotator(annotator, out var name, out var problem))
        {
            return problem;
        }

        var p = queue.Progress(name);
        return TypedResults.Ok(new ProgressDto(p.Annotator, p.Done, p.Total, queue.UsesModel, queue.Scored));
    }

    /// <summary>
    /// <c>POST /api/judgement</c> with <c>{"pair_id", "annotator", "choice", "ms"}</c>: 200 only after the judgement
    /// is committed; 400 for a bad body, 404 for an unknown pair, 409 for a pair not shown to this annotator or
    /// already judged by them.
    /// </summary>
    public static async Task<Results<Ok<StoredDto>, ProblemHttpResult>> JudgeAsync(HttpRequest request, AnnotationQueue queue)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(queue);
        NoStore(request.HttpContext);
        JudgementDto? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync(request.Body, AnnotationJsonContext.Default.JudgementDto, request.HttpContext.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            return Problem(400, "invalid JSON body: " + ex.Message.Split(". Path:", 2)[0]);
        }
        catch (BadHttpRequestException ex)
        {
            return Problem(ex.StatusCode, ex.Message);
        }

        if (body is null)
        {
            return Problem(400, "the body must be a JSON object {\"pair_id\", \"annotator\", \"choice\", \"ms\"}");
        }

        if (body.PairId is not { } pairId)
        {
            return Problem(400, "\"pair_id\" is missing");
        }

        if (body.Ms is not { } ms)
        {
            return Problem(400, "\"ms\" (milliseconds taken) is missing");
        }

        try
        {
            var judgement = queue.Submit(pairId, body.Annotator ?? string.Empty, body.Choice ?? string.Empty, ms);
            var progress = queue.Progress(judgement.Annotator);
            return TypedResults.Ok(new StoredDto(true, judgement.Id, progress.Done, progress.Total));
        }
        // Only the queue's own refusals are client errors; anything else is a bug and surfaces as a 500.
        catch (JudgementRejectedException ex)
        {
            return ex.Rejection switch
            {
                JudgementRejection.UnknownPair => Problem(404, ex.Message),
                JudgementRejection.NotShown => Problem(409, ex.Message + "; ask GET /api/next first"),
                _ => Problem(400, ex.Message),
            };
        }
        catch (DuplicateJudgementException ex)
        {
            return Problem(409, ex.Message);
        }
    }

    private static Results<PhysicalFileHttpResult, NotFound> Image(string path, ImageCatalog images, HttpContext context)
    {
        if (images.FileOf(path) is not { } file)
        {
            return TypedResults.NotFound();
        }

        context.Response.Headers.CacheControl = "private, max-age=3600";
        return TypedResults.PhysicalFile(file, ContentTypes.TryGetContentType(file, out var type) ? type : "application/octet-stream");
    }

    private static bool TryAnnotator(string? annotator, out string name, out ProblemHttpResult problem)
    {
        try
        {
            name = AnnotationQueue.CheckAnnotator(annotator);
            problem = null!;
            return true;
        }
        catch (JudgementRejectedException ex)
        {
            name = string.Empty;
            problem = Problem(400, ex.Message);
            return false;
        }
    }

    private static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail: detail, statusCode: status);

    private static IResult Page(byte[] bytes, string type) => Results.Bytes(bytes, type);

    private static void NoStore(HttpContext context) => context.Response.Headers.CacheControl = "no-store";

    private static byte[] Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("HpsSharp.Annotation." + name)
            ?? throw new InvalidOperationException($"embedded page resource '{name}' is missing from the build");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
