using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace HpsSharp.Cohp.Generators;

/// <summary>The two kinds of generation server HpsSharp drives.</summary>
public enum GeneratorKind
{
    /// <summary>AUTOMATIC1111-compatible API (<c>/sdapi/v1/txt2img</c>, <c>/sdapi/v1/img2img</c>): A1111, Forge, SD.Next, ...</summary>
    A1111,

    /// <summary>ComfyUI API: a workflow template queued with <c>POST /prompt</c>.</summary>
    ComfyUi,
}

/// <summary>
/// One entry of a generators file: a named backend with its model settings. Sizes default to 1024×1024; steps,
/// guidance and sampler default to the server's own defaults when absent.
/// </summary>
public sealed record GeneratorSpec
{
    /// <summary>Name used in the run folder and messages (letters, digits, <c>.</c>, <c>_</c>, <c>-</c>).</summary>
    public required string Name { get; init; }

    public required GeneratorKind Kind { get; init; }

    /// <summary>Base URL of the server, e.g. <c>http://127.0.0.1:7860</c>.</summary>
    public required Uri Url { get; init; }

    public int Width { get; init; } = 1024;

    public int Height { get; init; } = 1024;

    public int? Steps { get; init; }

    /// <summary>Classifier-free guidance scale (A1111 <c>cfg_scale</c>).</summary>
    public double? Guidance { get; init; }

    public string? Sampler { get; init; }

    public string? NegativePrompt { get; init; }

    /// <summary>A1111: checkpoint to use (<c>override_settings.sd_model_checkpoint</c>).</summary>
    public string? Model { get; init; }

    /// <summary>A1111: extra fields merged into every request body (e.g. <c>scheduler</c>, <c>override_settings</c>).</summary>
    public JsonObject? Extra { get; init; }

    /// <summary>ComfyUI: the txt2img workflow template (API format) with placeholders.</summary>
    public JsonObject? Workflow { get; init; }

    /// <summary>ComfyUI: the img2img workflow template with <c>{{image}}</c> and <c>{{strength}}</c>.</summary>
    public JsonObject? Img2ImgWorkflow { get; init; }

    /// <summary>ComfyUI: the node whose images are the result (default: the first node with an output image).</summary>
    public string? OutputNode { get; init; }

    /// <summary>Extra HTTP headers (for example <c>Authorization</c>).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>How long one image may take before the attempt is abandoned.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary>Retries after a failed attempt (connection error, timeout, 5xx, 429).</summary>
    public int Retries { get; init; } = 2;

    /// <summary>Delay before the first retry; doubled before each further one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>ComfyUI: how often <c>/history/{id}</c> is polled.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// What determines the images this generator makes (kind, size, steps, guidance, sampler, negative prompt, model,
    /// extra fields, workflows) — not the URL, headers, timeouts or retries. A resumed run requires it unchanged.
    /// </summary>
    public string Fingerprint()
    {
        var o = new JsonObject
        {
            ["kind"] = Kind.ToString(),
            ["width"] = Width,
            ["height"] = Height,
            ["steps"] = Steps,
            ["guidance"] = Guidance,
            ["sampler"] = Sampler,
            ["negative_prompt"] = NegativePrompt,
            ["model"] = Model,
            ["extra"] = Extra?.DeepClone(),
            ["workflow"] = Workflow?.DeepClone(),
            ["img2img_workflow"] = Img2ImgWorkflow?.DeepClone(),
            ["output_node"] = OutputNode,
        };
        var bytes = System.Text.Encoding.UTF8.GetBytes(o.ToJsonString());
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))[..16];
    }
}

/// <summary>Reads a generators file: a JSON array of <see cref="GeneratorSpec"/> entries (snake_case keys).</summary>
public static partial class GeneratorsFile
{
    private static readonly HashSet<string> Known =
    [
        "name", "kind", "url", "width", "height", "steps", "guidance", "sampler", "negative_prompt", "model", "extra",
        "workflow", "img2img_workflow", "output_node", "headers", "timeout_s", "retries", "retry_delay_s", "poll_interval_s",
    ];

    /// <summary>Loads and validates the file; workflow paths are relative to the file's folder.</summary>
    public static IReadOnlyList<GeneratorSpec> Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new GeneratorConfigException(path, null, "file not found");
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new GeneratorConfigException(path, null, $"not valid JSON ({ex.Message})", ex);
        }

        return Parse(root, path, Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Validates an already parsed generators array; <paramref name="baseDir"/> resolves workflow paths.</summary>
    public static IReadOnlyList<GeneratorSpec> Parse(JsonNode? root, string source, string baseDir)
    {
        if (root is not JsonArray array)
        {
            throw new GeneratorConfigException(source, null, "must be a JSON array of generators: [{\"name\": ..., \"kind\": \"a1111\" | \"comfyui\", \"url\": ...}]");
        }

        if (array.Count == 0)
        {
            throw new GeneratorConfigException(source, null, "lists no generator");
        }

        var specs = new List<GeneratorSpec>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < array.Count; i++)
        {
            var spec = ParseEntry(array[i], source, baseDir, i);
            if (!names.Add(spec.Name))
            {
                throw new GeneratorConfigException(source, spec.Name, "the name is used twice (names must be unique, ignoring case)");
            }

            specs.Add(spec);
        }

        return specs;
    }

    private static GeneratorSpec ParseEntry(JsonNode? node, string source, string baseDir, int index)
    {
        string label = $"#{index + 1}";
        if (node is not JsonObject o)
        {
            throw new GeneratorConfigException(source, label, "each entry must be a JSON object");
        }

        if (o["name"] is JsonValue nv && nv.TryGetValue(out string? nm) && !string.IsNullOrWhiteSpace(nm))
        {
            label = nm;
        }

        GeneratorConfigException Bad(string reason) => new(source, label, reason);

        foreach (var (key, _) in o)
        {
            if (!Known.Contains(key))
            {
                throw Bad($"unknown key '{key}' (known: {string.Join(", ", Known)})");
            }
        }

        string name = RequiredString(o, "name", Bad);
        if (!SafeName().IsMatch(name))
        {
            throw Bad("'name' may hold only letters, digits, '.', '_' and '-' (it names files in the run folder)");
        }

        string kindText = RequiredString(o, "kind", Bad);
        var kind = kindText.ToLowerInvariant() switch
        {
            "a1111" or "automatic1111" or "forge" or "sdnext" => GeneratorKind.A1111,
            "comfyui" or "comfy" => GeneratorKind.ComfyUi,
            _ => throw Bad($"'kind' is '{kindText}'; expected \"a1111\" or \"comfyui\""),
        };

        string urlText = RequiredString(o, "url", Bad);
        if (!Uri.TryCreate(urlText, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw Bad($"'url' is '{urlText}'; expected an absolute http:// or https:// URL");
        }

        var spec = new GeneratorSpec
        {
            Name = name,
            Kind = kind,
            Url = url,
            Width = OptionalInt(o, "width", Bad, 8, 16384) ?? 1024,
            Height = OptionalInt(o, "height", Bad, 8, 16384) ?? 1024,
            Steps = OptionalInt(o, "steps", Bad, 1, 10000),
            Guidance = OptionalDouble(o, "guidance", Bad, 0, 1000),
            Sampler = OptionalString(o, "sampler", Bad),
            NegativePrompt = OptionalString(o, "negative_prompt", Bad),
            Model = OptionalString(o, "model", Bad),
            Extra = o["extra"] switch
            {
                null => null,
                JsonObject e => (JsonObject)e.DeepClone(),
                _ => throw Bad("'extra' must be a JSON object of request fields"),
            },
            Workflow = LoadWorkflow(o, "workflow", baseDir, Bad),
            Img2ImgWorkflow = LoadWorkflow(o, "img2img_workflow", baseDir, Bad),
            OutputNode = OptionalString(o, "output_node", Bad),
            Headers = o["headers"] switch
            {
                null => new Dictionary<string, string>(),
                JsonObject h => h.ToDictionary(kv => kv.Key, kv => kv.Value is JsonValue v && v.TryGetValue(out string? s) ? s : throw Bad($"header '{kv.Key}' must be a string")),
                _ => throw Bad("'headers' must be a JSON object of strings"),
            },
            Timeout = TimeSpan.FromSeconds(OptionalDouble(o, "timeout_s", Bad, 0.001, 86400) ?? 600),
            Retries = OptionalInt(o, "retries", Bad, 0, 100) ?? 2,
            RetryDelay = TimeSpan.FromSeconds(OptionalDouble(o, "retry_delay_s", Bad, 0, 3600) ?? 1),
            PollInterval = TimeSpan.FromSeconds(OptionalDouble(o, "poll_interval_s", Bad, 0.001, 3600) ?? 0.5),
        };

        if (kind == GeneratorKind.ComfyUi)
        {
            if (spec.Workflow is null || spec.Img2ImgWorkflow is null)
            {
                throw Bad("a comfyui generator needs 'workflow' (txt2img) and 'img2img_workflow': paths of API-format workflow JSON files");
            }

            RequirePlaceholders(spec.Workflow, "workflow", Bad, "{{prompt}}", "{{seed}}");
            RequirePlaceholders(spec.Img2ImgWorkflow, "img2img_workflow", Bad, "{{prompt}}", "{{seed}}", "{{image}}", "{{strength}}");
            RequireValues(spec, Bad);
        }
        else if (spec.Workflow is not null || spec.Img2ImgWorkflow is not null || spec.OutputNode is not null)
        {
            throw Bad("'workflow', 'img2img_workflow' and 'output_node' apply to comfyui generators only");
        }

        return spec;
    }

    private static void RequirePlaceholders(JsonObject workflow, string key, Func<string, GeneratorConfigException> bad, params string[] placeholders)
    {
        string text = workflow.ToJsonString();
        var missing = placeholders.Where(p => !text.Contains(p, StringComparison.Ordinal)).ToList();
        if (missing.Count > 0)
        {
            throw bad($"'{key}' lacks the placeholder(s) {string.Join(", ", missing)}");
        }

        foreach (var used in ComfyUiGenerator.PlaceholdersIn(workflow))
        {
            if (!ComfyUiGenerator.Placeholders.Contains(used))
            {
                throw bad($"'{key}' uses the unknown placeholder {{{{{used}}}}} (known: {string.Join(", ", ComfyUiGenerator.Placeholders)})");
            }
        }
    }

    private static void RequireValues(GeneratorSpec spec, Func<string, GeneratorConfigException> bad)
    {
        var used = ComfyUiGenerator.PlaceholdersIn(spec.Workflow!).Union(ComfyUiGenerator.PlaceholdersIn(spec.Img2ImgWorkflow!));
        foreach (var (name, isSet) in new[] { ("steps", spec.Steps is not null), ("guidance", spec.Guidance is not null), ("sampler", spec.Sampler is not null) })
        {
            if (used.Contains(name) && !isSet)
            {
                throw bad($"the workflow uses {{{{{name}}}}} but '{name}' is not set");
            }
        }
    }

    private static JsonObject? LoadWorkflow(JsonObject o, string key, string baseDir, Func<string, GeneratorConfigException> bad)
    {
        switch (o[key])
        {
            case null:
                return null;
            case JsonObject inline:
                return (JsonObject)inline.DeepClone();
            case JsonValue v when v.TryGetValue(out string? rel):
                var full = Path.GetFullPath(Path.Combine(baseDir, rel));
                if (!File.Exists(full))
                {
                    throw bad($"'{key}' file '{full}' not found");
                }

                try
                {
                    return JsonNode.Parse(File.ReadAllText(full)) as JsonObject
                        ?? throw bad($"'{key}' file '{full}' must hold a JSON object (a ComfyUI API-format workflow)");
                }
                catch (JsonException ex)
                {
                    throw bad($"'{key}' file '{full}' is not valid JSON ({ex.Message})");
                }

            default:
                throw bad($"'{key}' must be a file path or an inline workflow object");
        }
    }

    private static string RequiredString(JsonObject o, string key, Func<string, GeneratorConfigException> bad) =>
        OptionalString(o, key, bad) is { Length: > 0 } s ? s : throw bad($"'{key}' is required");

    private static string? OptionalString(JsonObject o, string key, Func<string, GeneratorConfigException> bad) => o[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => throw bad($"'{key}' must be a string"),
    };

    private static int? OptionalInt(JsonObject o, string key, Func<string, GeneratorConfigException> bad, int min, int max)
    {
        var d = OptionalDouble(o, key, bad, min, max);
        if (d is null)
        {
            return null;
        }

        if (d != Math.Floor(d.Value))
        {
            throw bad($"'{key}' must be a whole number, got {d.Value.ToString(CultureInfo.InvariantCulture)}");
        }

        return (int)d.Value;
    }

    private static double? OptionalDouble(JsonObject o, string key, Func<string, GeneratorConfigException> bad, double min, double max)
    {
        if (o[key] is null)
        {
            return null;
        }

        if (o[key] is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
        {
            throw bad($"'{key}' must be a number");
        }

        double d = v.GetValue<double>();
        if (!(d >= min && d <= max))
        {
            throw bad($"'{key}' is {d.ToString(CultureInfo.InvariantCulture)}; expected {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");
        }

        return d;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex SafeName();
}
