using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace HpsSharp.Cohp.Generators;

/// <summary>
/// The ComfyUI API: the generator's workflow template (API format) gets its placeholders filled, is queued with
/// <c>POST /prompt</c>, <c>/history/{id}</c> is polled until it finishes, and the output image is fetched from
/// <c>/view</c>. For img2img the init image is first uploaded with <c>POST /upload/image</c> and its name fills
/// <c>{{image}}</c>. Placeholders: a string value that is exactly <c>"{{seed}}"</c> (or width, height, steps,
/// guidance, strength) becomes a number; inside longer strings a placeholder is replaced by its text.
/// </summary>
public sealed partial class ComfyUiGenerator : HttpGenerator
{
    /// <summary>Placeholders a workflow template may use.</summary>
    public static readonly IReadOnlySet<string> Placeholders = new HashSet<string>(StringComparer.Ordinal)
    {
        "prompt", "negative_prompt", "seed", "width", "height", "steps", "guidance", "sampler", "strength", "image",
    };

    private readonly string _clientId = Guid.NewGuid().ToString("N");

    public ComfyUiGenerator(GeneratorSpec spec, HttpMessageHandler? handler = null)
        : base(spec, handler)
    {
        if (spec.Workflow is null || spec.Img2ImgWorkflow is null)
        {
            throw new ArgumentException($"generator '{spec.Name}': a comfyui generator needs 'workflow' and 'img2img_workflow'", nameof(spec));
        }
    }

    /// <inheritdoc/>
    public override Task<GeneratedImage> TextToImageAsync(string prompt, long seed, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return WithRetriesAsync("txt2img", async ct =>
        {
            var workflow = Render(Spec.Workflow!, Values(prompt, seed, null, null));
            return await RunAsync(workflow, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public override Task<GeneratedImage> ImageToImageAsync(string prompt, long seed, ReadOnlyMemory<byte> initImage, double strength, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentOutOfRangeException.ThrowIfNegative(strength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(strength, 1.0);
        var bytes = initImage.ToArray();
        return WithRetriesAsync("img2img", async ct =>
        {
            string name = await UploadAsync(bytes, ct).ConfigureAwait(false);
            var workflow = Render(Spec.Img2ImgWorkflow!, Values(prompt, seed, strength, name));
            return await RunAsync(workflow, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <summary>The placeholder values for one request (absent optional settings are left out).</summary>
    public Dictionary<string, JsonNode?> Values(string prompt, long seed, double? strength, string? image)
    {
        var v = new Dictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["prompt"] = prompt,
            ["negative_prompt"] = Spec.NegativePrompt ?? string.Empty,
            ["seed"] = seed,
            ["width"] = Spec.Width,
            ["height"] = Spec.Height,
        };
        if (Spec.Steps is int steps)
        {
            v["steps"] = steps;
        }

        if (Spec.Guidance is double g)
        {
            v["guidance"] = g;
        }

        if (Spec.Sampler is not null)
        {
            v["sampler"] = Spec.Sampler;
        }

        if (strength is double s)
        {
            v["strength"] = s;
        }

        if (image is not null)
        {
            v["image"] = image;
        }

        return v;
    }

    /// <summary>A copy of <paramref name="template"/> with every <c>{{name}}</c> replaced; unknown or unset names throw.</summary>
    public static JsonObject Render(JsonObject template, IReadOnlyDictionary<string, JsonNode?> values)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        return (JsonObject)RenderNode(template, values)!;
    }

    /// <summary>The placeholder names used in a template.</summary>
    public static IReadOnlySet<string> PlaceholdersIn(JsonNode template)
    {
        ArgumentNullException.ThrowIfNull(template);
        return PlaceholderPattern().Matches(template.ToJsonString()).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
    }

    private static JsonNode? RenderNode(JsonNode? node, IReadOnlyDictionary<string, JsonNode?> values)
    {
        switch (node)
        {
            case JsonObject o:
                var copy = new JsonObject();
                foreach (var (k, v) in o)
                {
                    copy[k] = RenderNode(v, values);
                }

                return copy;
            case JsonArray a:
                var arr = new JsonArray();
                foreach (var item in a)
                {
                    arr.Add(RenderNode(item, values));
                }

                return arr;
            case JsonValue v when v.TryGetValue(out string? s):
                var whole = PlaceholderPattern().Match(s);
                if (whole.Success && whole.Length == s.Length)
                {
                    return Lookup(whole.Groups[1].Value, values)?.DeepClone();
                }

                return PlaceholderPattern().Replace(s, m => Lookup(m.Groups[1].Value, values) switch
                {
                    JsonValue jv when jv.TryGetValue(out string? text) => text,
                    JsonValue jv when jv.TryGetValue(out double d) => d.ToString("R", CultureInfo.InvariantCulture),
                    JsonValue jv when jv.TryGetValue(out long l) => l.ToString(CultureInfo.InvariantCulture),
                    var other => other?.ToJsonString() ?? string.Empty,
                });
            default:
                return node?.DeepClone();
        }
    }

    private static JsonNode? Lookup(string name, IReadOnlyDictionary<string, JsonNode?> values) =>
        values.TryGetValue(name, out var value)
            ? value
            : throw new ArgumentException(Placeholders.Contains(name)
                ? $"the workflow uses {{{{{name}}}}} but no value is set for it (set '{name}' in the generators file)"
                : $"the workflow uses the unknown placeholder {{{{{name}}}}} (known: {string.Join(", ", Placeholders)})");

    private async Task<string> UploadAsync(byte[] bytes, CancellationToken ct)
    {
        string ext = ImageFormat.Extension(bytes) ?? "png";
        string fileName = $"hps-cohp-{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}.{ext}";
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(ext == "jpg" ? "image/jpeg" : $"image/{ext}");
        form.Add(file, "image", fileName);
        form.Add(new StringContent("true"), "overwrite");
        var answer = await PostAsync("/upload/image", form, ct).ConfigureAwait(false);
        string name = answer["name"]?.GetValue<string>() ?? throw new ServerAnswerException("/upload/image answered without \"name\"", transient: false);
        string sub = answer["subfolder"] is JsonValue sv && sv.TryGetValue(out string? s) ? s : string.Empty;
        return sub.Length > 0 ? $"{sub}/{name}" : name;
    }

    private async Task<GeneratedImage> RunAsync(JsonObject workflow, CancellationToken ct)
    {
        var queued = await PostJsonAsync("/prompt", new JsonObject { ["prompt"] = workflow, ["client_id"] = _clientId }, ct).ConfigureAwait(false);
        if (queued["prompt_id"] is not JsonValue idv || !idv.TryGetValue(out string? id) || id.Length == 0)
        {
            throw new ServerAnswerException($"/prompt answered without \"prompt_id\": {Truncate(queued.ToJsonString())}", transient: false);
        }

        string historyPath = "/history/" + Uri.EscapeDataString(id);
        while (true)
        {
            var history = await GetJsonAsync(historyPath, ct).ConfigureAwait(false);
            if (history[id] is JsonObject entry)
            {
                var status = entry["status"] as JsonObject;
                string? statusText = status?["status_str"] is JsonValue st && st.TryGetValue(out string? sv) ? sv : null;
                if (statusText == "error")
                {
                    throw new ServerAnswerException($"the workflow failed on the server: {ExecutionError(status!)}", transient: false);
                }

                bool completed = status?["completed"] is not JsonValue cv || !cv.TryGetValue(out bool c) || c;
                if (completed && entry["outputs"] is JsonObject outputs)
                {
                    var (filename, subfolder, type) = PickOutput(outputs);
                    string view = $"/view?filename={Uri.EscapeDataString(filename)}&subfolder={Uri.EscapeDataString(subfolder)}&type={Uri.EscapeDataString(type)}";
                    var bytes = await GetBytesAsync(view, ct).ConfigureAwait(false);
                    return CheckImage(bytes, $"/view of '{filename}'");
                }
            }

            await Task.Delay(Spec.PollInterval, ct).ConfigureAwait(false);
        }
    }

    private (string Filename, string Subfolder, string Type) PickOutput(JsonObject outputs)
    {
        var candidates = new List<(string Node, string File, string Sub, string Type)>();
        foreach (var (node, value) in outputs)
        {
            if (value?["images"] is not JsonArray images)
            {
                continue;
            }

            foreach (var img in images)
            {
                if (img?["filename"] is JsonValue fv && fv.TryGetValue(out string? f))
                {
                    string sub = img["subfolder"] is JsonValue sv && sv.TryGetValue(out string? s) ? s : string.Empty;
                    string type = img["type"] is JsonValue tv && tv.TryGetValue(out string? t) ? t : "output";
                    candidates.Add((node, f, sub, type));
                }
            }
        }

        if (Spec.OutputNode is not null)
        {
            var fromNode = candidates.Where(c => c.Node == Spec.OutputNode).ToList();
            if (fromNode.Count == 0)
            {
                throw new ServerAnswerException($"output node '{Spec.OutputNode}' produced no image (nodes with images: {string.Join(", ", candidates.Select(c => c.Node).Distinct())})", transient: false);
            }

            return (fromNode[0].File, fromNode[0].Sub, fromNode[0].Type);
        }

        if (candidates.Count == 0)
        {
            throw new ServerAnswerException("the workflow finished without an output image (does it end in a SaveImage node?)", transient: false);
        }

        // Saved outputs before previews; among them the lowest node id, so the choice does not depend on JSON order.
        var pick = candidates
            .OrderBy(c => c.Type == "output" ? 0 : 1)
            .ThenBy(c => long.TryParse(c.Node, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : long.MaxValue)
            .ThenBy(c => c.Node, StringComparer.Ordinal)
            .First();
        return (pick.File, pick.Sub, pick.Type);
    }

    private static string ExecutionError(JsonObject status)
    {
        if (status["messages"] is JsonArray messages)
        {
            foreach (var m in messages)
            {
                if (m is JsonArray { Count: >= 2 } pair && pair[0]?.GetValue<string>() == "execution_error" && pair[1] is JsonObject detail)
                {
                    string node = detail["node_type"]?.ToString() ?? "?";
                    string msg = detail["exception_message"]?.ToString() ?? "unknown error";
                    return $"{node}: {msg.Trim()}";
                }
            }
        }

        return Truncate(status.ToJsonString());
    }

    private static string Truncate(string s) => s.Length <= 300 ? s : s[..300] + "…";

    [GeneratedRegex(@"\{\{([A-Za-z_]+)\}\}")]
    private static partial Regex PlaceholderPattern();
}
