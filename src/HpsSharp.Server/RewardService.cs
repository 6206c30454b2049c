using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using HpsSharp.Core.Scoring;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using HpsSharp.Server.Protocols;
using OpenTelemetry.Metrics;

namespace HpsSharp.Server;

/// <summary>Builds the reward service: a minimal-API web application around one <see cref="IScorer"/>.</summary>
public static class RewardService
{
    /// <summary>Paths that answer without an API key (probes must work for orchestrators that hold no secret).</summary>
    private static readonly HashSet<string> OpenPaths = new(StringComparer.Ordinal) { "/healthz", "/readyz" };

    private static readonly HashSet<string> KnownPaths = new(StringComparer.Ordinal)
    {
        "/v1/score", "/v1/compare", "/v1/rank", "/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi/v1.json",
        "/", "/score", "/api/reward/enqueue", "/api/reward/pull", "/v1/monitor",
    };

    /// <summary>
    /// A service around an already loaded scorer, which the caller keeps owning (and disposes after the app).
    /// </summary>
    public static WebApplication Build(IScorer scorer, RewardServiceOptions options, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        return Build(_ => Task.FromResult(scorer), ownsScorer: false, options, logging);
    }

    /// <summary>
    /// A service that loads its scorer in the background once started: it listens at once, answers
    /// <c>/readyz</c> with 503 until the load finishes, and disposes the scorer when the app stops. When the load
    /// fails the app stops and <see cref="ScoringQueue.LoadError"/> says why.
    /// </summary>
    public static WebApplication Build(Func<CancellationToken, Task<IScorer>> loadScorer, RewardServiceOptions options, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(loadScorer);
        return Build(loadScorer, ownsScorer: true, options, logging);
    }

    private static WebApplication Build(Func<CancellationToken, Task<IScorer>> loadScorer, bool ownsScorer, RewardServiceOptions options, Action<ILoggingBuilder>? logging)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(RewardService).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls([.. options.Urls]);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;

            // The body limit is enforced on the body stream (BodyLimit), so that a 413 leaves the body drainable.
            k.Limits.MaxRequestBodySize = null;
        });
        builder.Services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(f =>
        {
            f.MultipartBodyLengthLimit = options.MaxRequestBodyBytes;

            // Keep file parts in memory (the body limit bounds them) instead of spilling each one to a temp file.
            f.MemoryBufferThreshold = (int)Math.Min(options.MaxRequestBodyBytes, int.MaxValue);
            f.ValueCountLimit = (options.MaxItemsPerRequest * 2) + 8;
        });
        if (logging is not null)
        {
            builder.Logging.ClearProviders();
            logging(builder.Logging);
        }

        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            // The context's metadata is generated with these options, so its naming settings must be repeated here.
            j.SerializerOptions.TypeInfoResolverChain.Insert(0, ContractJson.Default);
            j.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            j.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;

            // Numbers are numbers (the web default also reads them from strings, which the OpenAPI schemas would show).
            j.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddServiceOpenApi();
        builder.Services.AddSingleton(options);
        // Registered through a factory so the container disposes it (and its meter) with the app.
        var metrics = new ServiceMetrics(options.MaxBatchSize);
        builder.Services.AddSingleton(_ => metrics);
        builder.Services.AddOpenTelemetry().WithMetrics(m => m
            .AddMeter(ServiceMetrics.MeterName)

            // Services can share a process (tests, a host serving two ports): each exports only its own meter.
            .AddView(i => ReferenceEquals(i.Meter, metrics.Meter) ? null : MetricStreamConfiguration.Drop)
            .AddPrometheusExporter(p =>
            {
                // Every scrape reads the live values (the default caches a scrape for 300 ms), and the text is only
                // the hps_* series: no otel_scope_* labels, no target_info.
                p.ScrapeResponseCacheDurationMilliseconds = 0;
                p.ScopeInfoEnabled = false;
                p.TargetInfoEnabled = false;
            }));
        builder.Services.AddServiceHealthChecks();
        builder.Services.AddSingleton<ImageReader>();
        builder.Services.AddSingleton<RequestParser>();
        builder.Services.AddSingleton(sp => new ScoringQueue(
            loadScorer, ownsScorer, options, sp.GetRequiredService<ServiceMetrics>(),
            sp.GetRequiredService<ILogger<ScoringQueue>>(), sp.GetRequiredService<IHostApplicationLifetime>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ScoringQueue>());
        builder.Services.AddTrainerProtocols(options);

        // Drains admitted requests in the host's "stopping" phase, while the queue still scores and Kestrel still
        // answers; the host's own timeout must leave room for the drain.
        builder.Services.AddSingleton<Admission>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Admission>());
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.DrainTimeoutSeconds + 15));

        var app = builder.Build();
        app.Services.GetRequiredService<Monitoring.RewardMonitor>().AddGauges(metrics.Meter);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(BodyLimit.Middleware(options));
        app.Use(MeasureAsync);
        if (options.ApiKey is not null)
        {
            app.Use(RequireApiKey(options.ApiKey));
        }

        var admission = app.Services.GetRequiredService<Admission>();
        app.Use(admission.InvokeAsync);

        app.MapScoring();
        app.MapStatus();
        app.MapTrainerProtocols();
        app.MapServiceOpenApi();
        return app;
    }

    /// <summary>The addresses the service listens on once started (with the real port when 0 was asked for).</summary>
    public static IReadOnlyList<string> Addresses(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return [.. app.Urls];
    }

    /// <summary>The service's queue (readiness, load error, depth).</summary>
    public static ScoringQueue Queue(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<ScoringQueue>();
    }

    /// <summary>The service's metrics.</summary>
    public static ServiceMetrics Metrics(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<ServiceMetrics>();
    }

    private static async Task MeasureAsync(HttpContext ctx, RequestDelegate next)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        finally
        {
            var path = ctx.Request.Path.Value ?? string.Empty;
            int code = ctx.RequestAborted.IsCancellationRequested ? 499 : ctx.Response.StatusCode;
            var metrics = ctx.RequestServices.GetRequiredService<ServiceMetrics>();
            metrics.RecordRequest(KnownPaths.Contains(path) ? path : "other", code, Stopwatch.GetElapsedTime(start).TotalSeconds);
            if (code is 503 or 413 or 401)
            {
                metrics.RecordRejected(code switch { 503 => "unavailable", 413 => "too_large", _ => "unauthorized" });
            }
        }
    }

    private static Func<HttpContext, RequestDelegate, Task> RequireApiKey(string key)
    {
        var expected = Encoding.UTF8.GetBytes("Bearer " + key);
        return async (ctx, next) =>
        {
            if (OpenPaths.Contains(ctx.Request.Path.Value ?? string.Empty))
            {
                await next(ctx).ConfigureAwait(false);
                return;
            }

            var given = Encoding.UTF8.GetBytes(ctx.Request.Headers.Authorization.ToString());
            if (!CryptographicOperations.FixedTimeEquals(given, expected))
            {
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                await ScoringEndpoints.Problem(new RequestRejectedException(401, "unauthorized",
                    "this service requires 'Authorization: Bearer <api key>'")).ExecuteAsync(ctx).ConfigureAwait(false);
                return;
            }

            await next(ctx).ConfigureAwait(false);
        };
    }
}
