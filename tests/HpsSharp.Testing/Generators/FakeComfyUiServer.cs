using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace HpsSharp.Testing.Generators;

/// <summary>
/// A fake ComfyUI API. <c>POST /prompt</c> reads an API-format workflow (KSampler seed/denoise, its positive
/// CLIPTextEncode text, EmptyLatentImage size or a LoadImage input, a SaveImage node), renders
/// <see cref="FakeImages"/>, and answers a prompt id; <c>GET /history/{id}</c> answers <c>{}</c> for the first
/// <see cref="PendingPolls"/> polls, then the outputs; <c>GET /view</c> serves the image; <c>POST /upload/image</c>
/// stores an init image (multipart field <c>image</c>).
/// </summary>
public sealed class FakeComfyUiServer : FakeGeneratorServer
{
    private readonly ConcurrentDictionary<string, byte[]> _inputs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte[]> _outputs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (JsonObject Entry, int Pending)> _history = new(StringComparer.Ordinal);
    private int _counter;

    public FakeComfyUiServer(int port = 0)
        : base(port)
    {
    }

    /// <summary>How many polls of /history answer "not yet" before the result appears.</summary>
    public int PendingPolls { get; set; } = 1;

    /// <summary>Names of the images uploaded through /upload/image.</summary>
    public IReadOnlyCollection<string> Uploads => [.. _inputs.Keys];

    protected override async Task<bool> HandleAsync(HttpListenerContext context, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(context);
        string path = context.Request.Url!.AbsolutePath;
        string method = context.Request.HttpMethod;
        switch (method, path)
        {
            case ("GET", "/system_stats"):
                await WriteJsonAsync(context, new JsonObject { ["system"] = new JsonObject { ["fake"] = "comfyui" } }).ConfigureAwait(false);
                return true;
            case ("POST", "/upload/image"):
                await UploadAsync(context, body).ConfigureAwait(false);
                return true;
            case ("POST", "/prompt"):
                await QueueAsync(context, body).ConfigureAwait(false);
                return true;
            case ("GET", "/view"):
                var q = context.Request.QueryString;
                string key = $"{q["type"]}/{q["subfolder"]}/{q["filename"]}";
                if (_outputs.TryGetValue(key, out var png))
                {
                    await WriteBytesAsync(context, png, "image/png").ConfigureAwait(false);
                    return true;
                }

                return false;
            case ("GET", _) when path.StartsWith("/history/", StringComparison.Ordinal):
                string id = Uri.UnescapeDataString(path["/history/".Length..]);
                var answer = new JsonObject();
                if (_history.TryGetValue(id, out var h))
                {
                    if (h.Pending > 0)
                    {
                        _history[id] = (h.Entry, h.Pending - 1);
                    }
                    else
                    {
                        answer[id] = h.Entry.DeepClone();
                    }
                }

                await WriteJsonAsync(context, answer).ConfigureAwait(false);
                return true;
            default:
                return false;
        }
    }

    private async Task UploadAsync(HttpListenerContext context, byte[] body)
    {
        var (fileName, bytes) = Multipart.ReadFile(context.Request.ContentType ?? string.Empty, body, "image");
        _inputs[fileName] = bytes;
        await WriteJsonAsync(context, new JsonObject { ["name"] = fileName, ["subfolder"] = string.Empty, ["type"] = "input" }).ConfigureAwait(false);
    }

    private async Task QueueAsync(HttpListenerContext context, byte[] body)
    {
        var request = JsonNode.Parse(body) as JsonObject ?? throw new InvalidDataException("body must be a JSON object");
        if (request["prompt"] is not JsonObject workflow)
        {
            await WriteJsonAsync(context, Error("prompt_no_outputs", "no workflow in \"prompt\""), 400).ConfigureAwait(false);
            return;
        }

        var nodes = workflow.Where(kv => kv.Value is JsonObject).ToDictionary(kv => kv.Key, kv => (JsonObject)kv.Value!);
        string? ClassOf(string id) => nodes.TryGetValue(id, out var n) ? n["class_type"]?.GetValue<string>() : null;
        var sampler = nodes.FirstOrDefault(kv => ClassOf(kv.Key) is "KSampler" or "KSamplerAdvanced");
        var save = nodes.FirstOrDefault(kv => ClassOf(kv.Key) == "SaveImage");
        if (sampler.Value is null || save.Value is null)
        {
            await WriteJsonAsync(context, Error("prompt_outputs_failed_validation", "this fake needs a KSampler and a SaveImage node"), 400).ConfigureAwait(false);
            return;
        }

        var inputs = sampler.Value["inputs"] as JsonObject ?? throw new InvalidDataException("KSampler has no inputs");
        if (inputs["seed"] is not JsonValue seedValue || !seedValue.TryGetValue(out long seed))
        {
            await WriteJsonAsync(context, Error("prompt_outputs_failed_validation", $"KSampler seed is not a number: {inputs["seed"]?.ToJsonString()}"), 400).ConfigureAwait(false);
            return;
        }

        double denoise = inputs["denoise"] is JsonValue dv && dv.TryGetValue(out double d) ? d : 1.0;
        string prompt = LinkedInput(nodes, inputs["positive"], "text") ?? string.Empty;
        var latent = nodes.Values.FirstOrDefault(n => n["class_type"]?.GetValue<string>() == "EmptyLatentImage");
        var load = nodes.Values.FirstOrDefault(n => n["class_type"]?.GetValue<string>() == "LoadImage");
        byte[]? init = null;
        int width = 512, height = 512;
        if (load is not null)
        {
            string name = load["inputs"]?["image"]?.GetValue<string>() ?? string.Empty;
            if (!_inputs.TryGetValue(name, out init))
            {
                await WriteJsonAsync(context, Error("prompt_outputs_failed_validation", $"LoadImage: image '{name}' was not uploaded"), 400).ConfigureAwait(false);
                return;
            }

            using var bmp = SkiaSharp.SKBitmap.Decode(init);
            (width, height) = (bmp.Width, bmp.Height);
        }

        if (latent is not null)
        {
            width = latent["inputs"]?["width"]?.GetValue<int>() ?? width;
            height = latent["inputs"]?["height"]?.GetValue<int>() ?? height;
        }

        var fault = Register(init is null ? "txt2img" : "img2img", prompt, seed, width, height, init is null ? null : denoise, init, workflow);
        if (await ApplyFaultAsync(context, fault).ConfigureAwait(false))
        {
            return;
        }

        int n = Interlocked.Increment(ref _counter);
        string id = $"fake-{n:D5}-{Guid.NewGuid():N}"[..24];
        JsonObject entry;
        if (fault is { ExecutionError: true })
        {
            entry = new JsonObject
            {
                ["prompt"] = new JsonArray(n, id),
                ["outputs"] = new JsonObject(),
                ["status"] = new JsonObject
                {
                    ["status_str"] = "error",
                    ["completed"] = false,
                    ["messages"] = new JsonArray(new JsonArray("execution_error", new JsonObject { ["node_type"] = "KSampler", ["exception_message"] = fault.Message })),
                },
            };
        }
        else
        {
            var png = init is null
                ? FakeImages.TextToImage(prompt, seed, width, height)
                : FakeImages.ImageToImage(prompt, seed, init, denoise, width, height);
            string file = $"ComfyUI_{n:D5}_.png";
            _outputs[$"output//{file}"] = png;
            entry = new JsonObject
            {
                ["prompt"] = new JsonArray(n, id),
                ["outputs"] = new JsonObject { [save.Key] = new JsonObject { ["images"] = new JsonArray(new JsonObject { ["filename"] = file, ["subfolder"] = string.Empty, ["type"] = "output" }) } },
                ["status"] = new JsonObject { ["status_str"] = "success", ["completed"] = true, ["messages"] = new JsonArray() },
            };
        }

        _history[id] = (entry, PendingPolls);
        await WriteJsonAsync(context, new JsonObject { ["prompt_id"] = id, ["number"] = n, ["node_errors"] = new JsonObject() }).ConfigureAwait(false);
    }

    private static string? LinkedInput(Dictionary<string, JsonObject> nodes, JsonNode? link, string input)
    {
        if (link is JsonArray { Count: >= 1 } arr && arr[0]?.ToString() is string from && nodes.TryGetValue(from, out var node))
        {
            return node["inputs"]?[input]?.GetValue<string>();
        }

        return null;
    }

    private static JsonObject Error(string type, string message) =>
        new() { ["error"] = new JsonObject { ["type"] = type, ["message"] = message, ["details"] = string.Empty }, ["node_errors"] = new JsonObject() };

    /// <summary>A minimal multipart/form-data reader (one file field is all /upload/image needs).</summary>
    private static class Multipart
    {
        public static (string FileName, byte[] Bytes) ReadFile(string contentType, byte[] body, string field)
        {
            int b = contentType.IndexOf("boundary=", StringComparison.OrdinalIgnoreCase);
            if (b < 0)
            {
                throw new InvalidDataException("multipart body without boundary");
            }

            string boundary = contentType[(b + 9)..].Split(';')[0].Trim().Trim('"');
            var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
            int pos = IndexOf(body, delimiter, 0);
            while (pos >= 0)
            {
                int start = pos + delimiter.Length + 2; // skip CRLF
                int headerEnd = IndexOf(body, "\r\n\r\n"u8.ToArray(), start);
                int next = IndexOf(body, delimiter, start);
                if (headerEnd < 0 || next < 0)
                {
                    break;
                }

                string headers = Encoding.UTF8.GetString(body, start, headerEnd - start);
                if (headers.Contains($"name=\"{field}\"", StringComparison.Ordinal) || headers.Contains($"name={field};", StringComparison.Ordinal))
                {
                    int fn = headers.IndexOf("filename=", StringComparison.Ordinal);
                    string fileName = fn < 0 ? "upload.png" : headers[(fn + 9)..].Split(';', '\r')[0].Trim().Trim('"');
                    int dataStart = headerEnd + 4;
                    int dataEnd = next - 2; // CRLF before the delimiter
                    return (fileName, body[dataStart..dataEnd]);
                }

                pos = next;
            }

            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"multipart body has no '{field}' field"));
        }

        private static int IndexOf(byte[] haystack, byte[] needle, int from)
        {
            for (int i = from; i <= haystack.Length - needle.Length; i++)
            {
                if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
                {
                    return i;
                }
            }

            return -1;
        }
    }
}
