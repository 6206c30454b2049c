using System.Text.Json.Nodes;
using HpsSharp.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace HpsSharp.Server.Tests;

/// <summary>
/// The OpenAPI document generated from the endpoints: every endpoint is listed, and the scoring endpoints carry
/// their request and response schemas (down to the per-scorer entries and the weighted <c>rewards</c> mix).
/// </summary>
[Trait("Category", "Integration")]
public sealed class OpenApiDocumentTests
{
    [Fact]
    public async Task GeneratedDocumentDescribesEveryEndpointWithItsSchemas()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var text = await host.Client.GetStringAsync("/openapi.json");
        Assert.Equal(text, await host.Client.GetStringAsync("/openapi/v1.json"));
        var doc = JsonNode.Parse(text)!;
        Assert.StartsWith("3.1", (string)doc["openapi"]!, StringComparison.Ordinal);
        Assert.Equal("HpsSharp reward service", (string?)doc["info"]!["title"]);
        Assert.Equal("bearer", (string?)doc["components"]!["securitySchemes"]!["bearer"]!["scheme"]);

        // Every mapped route but the document's own.
        var mapped = host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/')).Where(p => !ServiceOpenApi.Paths.Contains(p)).Order(StringComparer.Ordinal);
        Assert.Equal(mapped, doc["paths"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        foreach (var path in new[] { "/v1/score", "/v1/compare", "/v1/rank" })
        {
            var op = doc["paths"]![path]!["post"]!;
            Assert.NotNull(op["summary"]);
            Assert.NotNull(Resolve(doc, op["requestBody"]!["content"]!["application/json"]!["schema"]));
            foreach (var code in new[] { "400", "401", "413", "503" })
            {
                Assert.Equal("#/components/schemas/ProblemDetails", (string?)op["responses"]![code]!["content"]!["application/problem+json"]!["schema"]!["$ref"]);
            }
        }

        var scoreRequest = Body(doc, "/v1/score");
        Assert.Equal(["items"], scoreRequest["required"]!.AsArray().Select(n => (string)n!));
        AssertProperties(scoreRequest, "items", "normalize", "reward", "k", "scorers", "rewards");
        Assert.Contains("number", Types(scoreRequest["properties"]!["rewards"]!["additionalProperties"]));
        var item = Resolve(doc, scoreRequest["properties"]!["items"]!["items"]);
        AssertProperties(item, "prompt", "image", "rgb", "width", "height", "path", "video", "frames", "stride", "aggregate");
        AssertProperties(Body(doc, "/v1/compare"), "prompt", "a", "b");
        AssertProperties(Body(doc, "/v1/rank"), "prompt", "images");

        var score = Answer(doc, "/v1/score");
        AssertProperties(score, "model", "results");
        var model = Resolve(doc, score["properties"]!["model"]);
        AssertProperties(model, "name", "scorer", "fingerprint", "released_hpsv3", "dtype", "min_pixels", "max_pixels", "hosted");
        var result = Resolve(doc, score["properties"]!["results"]!["items"]);
        AssertProperties(result, "mu", "log_sigma", "sigma", "group_z", "error", "status", "percentile", "reward", "aggregate", "frames", "score", "scorer", "scorers");
        Assert.Null(result["required"]); // every field is left out when null
        Assert.Equal(["null", "number"], Types(result["properties"]!["mu"]).Order(StringComparer.Ordinal));

        // "scorers"/"rewards": one entry per scorer, with the weight the mix gave it.
        var entry = Resolve(doc, result["properties"]!["scorers"]!["additionalProperties"]);
        AssertProperties(entry, "score", "mu", "log_sigma", "sigma", "percentile", "weight", "error");
        AssertProperties(Resolve(doc, result["properties"]!["frames"]!["items"]), "index", "time", "mu", "log_sigma", "error");

        AssertProperties(Answer(doc, "/v1/compare"), "model", "p_a_over_b", "a", "b", "preferred");
        AssertProperties(Answer(doc, "/v1/rank"), "model", "order", "results");
        AssertProperties(Resolve(doc, doc["paths"]!["/healthz"]!["get"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]), "status", "model", "queue_depth", "queue_capacity", "error");
    }

    private static JsonNode Body(JsonNode doc, string path) =>
        Resolve(doc, doc["paths"]![path]!["post"]!["requestBody"]!["content"]!["application/json"]!["schema"]);

    private static JsonNode Answer(JsonNode doc, string path) =>
        Resolve(doc, doc["paths"]![path]!["post"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]);

    /// <summary>The schema itself, following a <c>$ref</c> into <c>components/schemas</c>.</summary>
    private static JsonNode Resolve(JsonNode doc, JsonNode? schema)
    {
        Assert.NotNull(schema);
        return schema["$ref"] is { } r
            ? doc["components"]!["schemas"]![((string)r!).Replace("#/components/schemas/", string.Empty, StringComparison.Ordinal)]!
            : schema;
    }

    private static string[] Types(JsonNode? schema) => schema?["type"] switch
    {
        JsonArray a => [.. a.Select(t => (string)t!)],
        JsonValue v => [(string)v!],
        _ => [],
    };

    private static void AssertProperties(JsonNode schema, params string[] names) =>
        Assert.Equal(names.Order(StringComparer.Ordinal), schema["properties"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
}
