using System.Net;
using System.Text.Json.Nodes;

namespace HpsSharp.Testing.Generators;

/// <summary>
/// A fake AUTOMATIC1111 API: <c>POST /sdapi/v1/txt2img</c> and <c>/sdapi/v1/img2img</c> answer deterministic
/// <see cref="FakeImages"/> as base64 PNG in <c>{"images": [...], "parameters": ..., "info": "..."}</c>.
/// </summary>
public sealed class FakeA1111Server : FakeGeneratorServer
{
    public FakeA1111Server(int port = 0)
        : base(port)
    {
    }

    protected override async Task<bool> HandleAsync(HttpListenerContext context, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(context);
        string path = context.Request.Url!.AbsolutePath;
        string method = context.Request.HttpMethod;
        if (method == "GET" && (path == "/" || path == "/sdapi/v1/sd-models"))
        {
            await WriteJsonAsync(context, path == "/" ? new JsonObject { ["fake"] = "a1111" } : new JsonArray(new JsonObject { ["title"] = "fake.safetensors", ["model_name"] = "fake" })).ConfigureAwait(false);
            return true;
        }

        if (method != "POST" || (path != "/sdapi/v1/txt2img" && path != "/sdapi/v1/img2img"))
        {
            return false;
        }

        var json = JsonNode.Parse(body) as JsonObject ?? throw new InvalidDataException("body must be a JSON object");
        bool img2img = path.EndsWith("img2img", StringComparison.Ordinal);
        string prompt = json["prompt"]?.GetValue<string>() ?? string.Empty;
        long seed = json["seed"]?.GetValue<long>() ?? -1;
        if (seed < 0)
        {
            await WriteJsonAsync(context, new JsonObject { ["detail"] = "this fake needs an explicit seed" }, 422).ConfigureAwait(false);
            return true;
        }

        int width = json["width"]?.GetValue<int>() ?? 512;
        int height = json["height"]?.GetValue<int>() ?? 512;
        double? strength = null;
        byte[]? init = null;
        if (img2img)
        {
            strength = json["denoising_strength"]?.GetValue<double>() ?? 0.75;
            var b64 = (json["init_images"] as JsonArray)?.FirstOrDefault()?.GetValue<string>() ?? throw new InvalidDataException("init_images is missing");
            init = Convert.FromBase64String(b64);
        }

        var fault = Register(img2img ? "img2img" : "txt2img", prompt, seed, width, height, strength, init, json);
        if (await ApplyFaultAsync(context, fault).ConfigureAwait(false))
        {
            return true;
        }

        var png = img2img
            ? FakeImages.ImageToImage(prompt, seed, init!, strength!.Value, width, height)
            : FakeImages.TextToImage(prompt, seed, width, height);
        var parameters = (JsonObject)json.DeepClone();
        parameters.Remove("init_images");
        await WriteJsonAsync(context, new JsonObject
        {
            ["images"] = new JsonArray(Convert.ToBase64String(png)),
            ["parameters"] = parameters,
            ["info"] = new JsonObject { ["seed"] = seed, ["all_seeds"] = new JsonArray(seed), ["prompt"] = prompt }.ToJsonString(),
        }).ConfigureAwait(false);
        return true;
    }
}
