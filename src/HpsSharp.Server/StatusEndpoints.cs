using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HpsSharp.Server;

/// <summary><c>GET /healthz</c>, <c>/readyz</c> and <c>/metrics</c> (the OpenAPI document: <see cref="ServiceOpenApi"/>).</summary>
public static class StatusEndpoints
{
    public static IEndpointRouteBuilder MapStatus(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // Liveness: the process answers. Readiness: the model is loaded and work is accepted.
        app.MapGet("/healthz", (ScoringQueue q, RewardServiceOptions o) =>
            TypedResults.Ok(new StatusDto("ok", q.Model is { } m ? ModelRecord.From(m) : null, q.Depth, o.QueueCapacity, null)));
        app.MapGet("/readyz", IResult (ScoringQueue q, RewardServiceOptions o, Admission admission) =>
        {
            var model = q.Model is { } m ? ModelRecord.From(m) : null;
            return q.IsReady && !admission.Draining
                ? TypedResults.Ok(new StatusDto("ready", model, q.Depth, o.QueueCapacity, null))
                : TypedResults.Json(
                    new StatusDto(q.LoadError is null ? "not ready" : "failed", model, q.Depth, o.QueueCapacity, q.LoadError?.Message),
                    ContractJson.Default.StatusDto, statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/metrics", (ServiceMetrics metrics, Monitoring.RewardMonitor monitor) =>
            TypedResults.Text(metrics.Render() + monitor.RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8"));
        return app;
    }
}
