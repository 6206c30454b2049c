using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HpsSharp.Server;

/// <summary>
/// <c>GET /healthz</c> and <c>/readyz</c> (ASP.NET Core health checks), <c>/metrics</c> (OpenTelemetry's Prometheus
/// exporter over <see cref="ServiceMetrics"/>).
/// The OpenAPI document: <see cref="ServiceOpenApi"/>.
/// </summary>
public static class StatusEndpoints
{
    /// <summary>Tag of the check behind <c>/healthz</c> (the process answers).</summary>
    public const string LiveTag = "live";

    /// <summary>Tag of the check behind <c>/readyz</c> (the model is loaded, work is accepted).</summary>
    public const string ReadyTag = "ready";

    private static readonly HttpMethodMetadata GetOnly = new([HttpMethods.Get, HttpMethods.Head]);

    /// <summary>Registers the liveness and readiness checks.</summary>
    public static IServiceCollection AddServiceHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy("the process answers"), [LiveTag])
            .AddCheck<ReadinessCheck>("model", tags: [ReadyTag]);
        return services;
    }

    public static IEndpointRouteBuilder MapStatus(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // Liveness: the process answers (200 even while loading or after a failed load: restarting would not help).
        // Readiness: the model is loaded and work is accepted; 503 while loading, after a failed load and while draining.
        app.MapHealthChecks("/healthz", new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(LiveTag),
            ResponseWriter = (ctx, report) => WriteStatusAsync(ctx, report, "ok"),
        }).WithMetadata(GetOnly);
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(ReadyTag),
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status503ServiceUnavailable,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = (ctx, report) => WriteStatusAsync(ctx, report, "ready"),
        }).WithMetadata(GetOnly);
        app.MapPrometheusScrapingEndpoint("/metrics").WithMetadata(GetOnly);
        return app;
    }

    /// <summary>The probes' JSON body (<see cref="StatusDto"/>): status, the model once loaded, queue depth and capacity, load error.</summary>
    private static Task WriteStatusAsync(HttpContext ctx, HealthReport report, string healthy)
    {
        var q = ctx.RequestServices.GetRequiredService<ScoringQueue>();
        var o = ctx.RequestServices.GetRequiredService<RewardServiceOptions>();
        var model = q.Model is { } m ? ModelRecord.From(m) : null;
        var dto = report.Status == HealthStatus.Healthy
            ? new StatusDto(healthy, model, q.Depth, o.QueueCapacity, null)
            : new StatusDto(q.LoadError is null ? "not ready" : "failed", model, q.Depth, o.QueueCapacity, q.LoadError?.Message);
        return ctx.Response.WriteAsJsonAsync(dto, ContractJson.Default.StatusDto, "application/json; charset=utf-8");
    }

    /// <summary>Ready when the model is loaded and the service is not draining for shutdown.</summary>
    private sealed class ReadinessCheck(ScoringQueue queue, Admission admission) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(
                queue.IsReady && !admission.Draining ? HealthCheckResult.Healthy("the model is loaded and work is accepted")
                : queue.LoadError is { } error ? HealthCheckResult.Unhealthy("the model could not be loaded", error)
                : admission.Draining ? HealthCheckResult.Unhealthy("draining for shutdown")
                : HealthCheckResult.Unhealthy("the model is loading"));
    }
}
