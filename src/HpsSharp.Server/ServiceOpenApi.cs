using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace HpsSharp.Server;

/// <summary>
/// The service's OpenAPI document, generated at run time (Microsoft.AspNetCore.OpenApi) from the endpoints' typed
/// results and request metadata, so it cannot drift from the code; served at <c>/openapi/v1.json</c> and
/// <c>/openapi.json</c>.
/// </summary>
public static class ServiceOpenApi
{
    /// <summary>The paths the document is served at.</summary>
    public static IReadOnlyList<string> Paths { get; } = ["/openapi/v1.json", "/openapi.json"];

    /// <summary>Registers the document generator, with the service's description and its bearer-key scheme.</summary>
    public static IServiceCollection AddServiceOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(o => o.AddSchemaTransformer(NullableIsOptional).AddOperationTransformer(AddDocumentedBodyAsync).AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "HpsSharp reward service",
                Version = "1.0.0",
                Description = "HPSv3 human preference scores over HTTP for RL and labelling. Images travel as base64 (JSON) or raw bytes "
                    + "(multipart); the service never fetches URLs and reads local paths only under a configured root. When started "
                    + "with an API key, every path except /healthz and /readyz needs 'Authorization: Bearer KEY'.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer" };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] }];
            return Task.CompletedTask;
        }).AddDocumentTransformer(DescribeStatusEndpointsAsync));

    /// <summary>
    /// The probes and <c>/metrics</c> are mapped by ASP.NET Core's health checks and OpenTelemetry's exporter, not as
    /// typed route handlers, so the generator does not see them; they are described here from the same records.
    /// </summary>
    private static async Task DescribeStatusEndpointsAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        var status = await context.GetOrCreateSchemaAsync(typeof(StatusDto), null, cancellationToken).ConfigureAwait(false);
        OpenApiResponse Json(string description) => new()
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = status } },
        };

        OpenApiPathItem Get(string summary, OpenApiResponses responses) => new()
        {
            Operations = new Dictionary<HttpMethod, OpenApiOperation>
            {
                [HttpMethod.Get] = new() { Summary = summary, Tags = new HashSet<OpenApiTagReference> { new("status", document) }, Responses = responses, Security = [] },
            },
        };

        document.Paths ??= [];
        document.Paths["/healthz"] = Get("Liveness: the process answers (no API key needed).", new OpenApiResponses { ["200"] = Json("The process answers.") });
        document.Paths["/readyz"] = Get("Readiness: the model is loaded and work is accepted (no API key needed).", new OpenApiResponses
        {
            ["200"] = Json("Ready."),
            ["503"] = Json("Loading, failed to load (error says why), or draining for shutdown."),
        });
        document.Paths["/metrics"] = Get("Prometheus exposition text (hps_* series).", new OpenApiResponses
        {
            ["200"] = new OpenApiResponse
            {
                Description = "Prometheus text format 0.0.4.",
                Content = new Dictionary<string, OpenApiMediaType> { ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } } },
            },
        });
    }

    /// <summary>
    /// Documents the JSON body of an endpoint that reads its body itself. <c>Accepts&lt;T&gt;</c> would do it too, but
    /// routing then refuses other content types with 415, and the service reads any body as JSON (or as multipart).
    /// </summary>
    public static RouteHandlerBuilder WithDocumentedBody<T>(this RouteHandlerBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.WithMetadata(new DocumentedBody(typeof(T)));
    }

    private static async Task AddDocumentedBodyAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Description.ActionDescriptor.EndpointMetadata.OfType<DocumentedBody>().LastOrDefault() is not { } body)
        {
            return;
        }

        var schema = await context.GetOrCreateSchemaAsync(body.Type, null, cancellationToken).ConfigureAwait(false);
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
        };
    }

    /// <summary>The type of the JSON body an endpoint reads itself (see <see cref="WithDocumentedBody{T}"/>).</summary>
    private sealed record DocumentedBody(Type Type);

    /// <summary>
    /// The contract leaves nulls out of its answers, so a nullable property is never required, even when the record
    /// takes it as a constructor parameter (which the generator would list as required).
    /// </summary>
    private static Task NullableIsOptional(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Required is { Count: > 0 } required && schema.Properties is { } properties)
        {
            foreach (var name in required.ToList())
            {
                if (properties.TryGetValue(name, out var p) && p.Type is { } t && t.HasFlag(JsonSchemaType.Null))
                {
                    required.Remove(name);
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Serves the document at <see cref="Paths"/>.</summary>
    public static IEndpointRouteBuilder MapServiceOpenApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        foreach (var path in Paths)
        {
            app.MapOpenApi(path);
        }

        return app;
    }
}
