using System.Globalization;
using System.Text;
using System.Text.Json;
using HpsSharp.Core.Scoring;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace HpsSharp.Server;

/// <summary>One parsed item: a request to score, or why it cannot be scored.</summary>
public readonly record struct ParsedItem(ScoreRequest? Request, string? Error)
{
    /// <summary>A <c>"video"</c> item (base64 clip, its prompt and sampling), scored frame by frame instead of <see cref="Request"/>.</summary>
    public Protocols.VideoItem? Video { get; init; }
}

/// <summary>A parsed <c>POST /v1/score</c> body.</summary>
public sealed record ParsedScoreBody(IReadOnlyList<ParsedItem> Items, bool GroupNormalize)
{
    /// <summary>The request's <c>"reward"</c> and <c>"k"</c>, as given (checked when the reward is applied).</summary>
    public (string? Name, double K) Reward { get; init; } = (null, 1.0);

    /// <summary>
    /// <c>"scorers": [..]</c> or the keys of <c>"rewards": {name: weight}</c>, in request order; null when the request
    /// names no scorer (the primary answers).
    /// </summary>
    public IReadOnlyList<string>? Scorers { get; init; }

    /// <summary><c>"rewards"</c>: the weight of each scorer in the mix; null without one.</summary>
    public IReadOnlyDictionary<string, double>? Weights { get; init; }
}

/// <summary>
/// Reads request bodies (JSON, or multipart for <c>/v1/score</c>) into items. Request-level problems (malformed JSON,
/// limits) throw <see cref="RequestRejectedException"/>; item-level problems become <see cref="ParsedItem.Error"/>.
/// </summary>
public sealed class RequestParser(RewardServiceOptions options, ImageReader images)
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 16 };
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads <c>{"items": [{"prompt", "image" | "rgb" | "path"}], "normalize"?}</c> or the multipart form.</summary>
    public async Task<ParsedScoreBody> ReadScoreAsync(HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckContentLength(request);
        if (request.HasFormContentType)
        {
            return await ReadScoreFormAsync(request, ct).ConfigureAwait(false);
        }

        using var doc = await ParseJsonAsync(request, ct).ConfigureAwait(false);
        var root = RequireObject(doc.RootElement);
        bool group = ReadNormalize(root.TryGetProperty("normalize", out var n) ? n : default);
        if (!root.TryGetProperty("items", out var itemsElement) || itemsElement.ValueKind != JsonValueKind.Array)
        {
            throw new RequestRejectedException(400, "bad request", "the body needs \"items\": an array of {\"prompt\", \"image\"} objects");
        }

        CheckItemCount(itemsElement.GetArrayLength());
        var items = new List<ParsedItem>(itemsElement.GetArrayLength());
        int i = 0;
        foreach (var el in itemsElement.EnumerateArray())
        {
            items.Add(ParseScoreItem(el, $"items[{i}]"));
            i++;
        }

        var (scorers, weights) = ReadScorers(root);
        return new ParsedScoreBody(items, group) { Reward = Protocols.VideoItem.ReadReward(root), Scorers = scorers, Weights = weights };
    }

    /// <summary>Reads <c>{"prompt", "a", "b"}</c>.</summary>
    public async Task<(ParsedItem A, ParsedItem B)> ReadCompareAsync(HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckContentLength(request);
        using var doc = await ParseJsonAsync(request, ct).ConfigureAwait(false);
        var root = RequireObject(doc.RootElement);
        string prompt = RequirePrompt(root);
        return (ParseImageItem(root, "a", prompt), ParseImageItem(root, "b", prompt));
    }

    /// <summary>Reads <c>{"prompt", "images": [...]}</c>.</summary>
    public async Task<IReadOnlyList<ParsedItem>> ReadRankAsync(HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckContentLength(request);
        using var doc = await ParseJsonAsync(request, ct).ConfigureAwait(false);
        var root = RequireObject(doc.RootElement);
        string prompt = RequirePrompt(root);
        if (!root.TryGetProperty("images", out var arr) || arr.ValueKind != JsonValueKind.Array)
        {
            throw new RequestRejectedException(400, "bad request", "the body needs \"images\": an array of base64 images");
        }

        CheckItemCount(arr.GetArrayLength());
        var items = new List<ParsedItem>(arr.GetArrayLength());
        int i = 0;
        foreach (var el in arr.EnumerateArray())
        {
            string name = $"images[{i++}]";
            items.Add(Guard(() => new ScoreRequest(prompt, images.Read(el, name))));
        }

        return items;
    }

    private ParsedItem ParseScoreItem(JsonElement el, string name)
    {
        if (el.ValueKind != JsonValueKind.Object)
        {
            return new ParsedItem(null, $"{name}: an item must be an object with \"prompt\" and \"image\"");
        }

        if (!el.TryGetProperty("prompt", out var p) || p.ValueKind != JsonValueKind.String)
        {
            return new ParsedItem(null, $"{name}: \"prompt\" (a string) is missing");
        }

        string prompt = p.GetString()!;
        if (el.TryGetProperty("video", out var video))
        {
            return Protocols.VideoItem.Parse(el, video, prompt, name);
        }

        return Guard(() => new ScoreRequest(prompt, images.Read(el, name)));
    }

    private ParsedItem ParseImageItem(JsonElement root, string field, string prompt)
    {
        if (!root.TryGetProperty(field, out var el))
        {
            throw new RequestRejectedException(400, "bad request", $"the body needs \"{field}\": a base64 image");
        }

        return Guard(() => new ScoreRequest(prompt, images.Read(el, field)));
    }

    private async Task<ParsedScoreBody> ReadScoreFormAsync(HttpRequest request, CancellationToken ct)
    {
        var (prompts, files, normalize) = MediaTypeHeaderValue.TryParse(request.ContentType, out var type)
            && type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase)
            ? await ReadMultipartAsync(request, type, ct).ConfigureAwait(false)
            : await ReadUrlEncodedAsync(request, ct).ConfigureAwait(false);
        bool group = normalize is not null && ReadNormalizeText(normalize);
        int count = prompts.Keys.Concat(files.Keys).DefaultIfEmpty(-1).Max() + 1;
        if (count == 0)
        {
            throw new RequestRejectedException(400, "bad request", "the form has no prompt[i] fields or image[i] files");
        }

        CheckItemCount(count);
        var items = new List<ParsedItem>(count);
        for (int i = 0; i < count; i++)
        {
            string name = $"items[{i}]";
            if (!prompts.TryGetValue(i, out var prompt))
            {
                items.Add(new ParsedItem(null, $"{name}: field prompt[{i}] is missing"));
                continue;
            }

            if (!files.TryGetValue(i, out var bytes))
            {
                items.Add(new ParsedItem(null, $"{name}: file part image[{i}] is missing"));
                continue;
            }

            items.Add(Guard(() => new ScoreRequest(prompt, images.FromEncoded(bytes, name))));
        }

        return new ParsedScoreBody(items, group);
    }

    /// <summary>
    /// Reads multipart/form-data part by part. Fields are decoded as strict UTF-8 (the form reader would silently
    /// replace invalid bytes with U+FFFD, which changes the prompt that gets scored); each file part is read once,
    /// straight into its own array.
    /// </summary>
    private async Task<(Dictionary<int, string> Prompts, Dictionary<int, byte[]> Files, string? Normalize)> ReadMultipartAsync(HttpRequest request, MediaTypeHeaderValue type, CancellationToken ct)
    {
        var boundary = HeaderUtilities.RemoveQuotes(type.Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            throw new RequestRejectedException(400, "malformed multipart body", "the Content-Type has no boundary");
        }

        var prompts = new Dictionary<int, string>();
        var files = new Dictionary<int, byte[]>();
        string? normalize = null;
        int maxParts = (options.MaxItemsPerRequest * 2) + 8;
        var reader = new MultipartReader(boundary, request.Body) { BodyLengthLimit = options.MaxRequestBodyBytes };
        try
        {
            int parts = 0;
            while (await reader.ReadNextSectionAsync(ct).ConfigureAwait(false) is { } section)
            {
                if (++parts > maxParts)
                {
                    throw new RequestRejectedException(400, "bad request", $"the form has more than {maxParts} parts");
                }

                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase))
                {
                    throw new RequestRejectedException(400, "malformed multipart body", $"part {parts} has no 'Content-Disposition: form-data' header");
                }

                string key = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? string.Empty;
                using var buffer = new MemoryStream();
                await section.Body.CopyToAsync(buffer, ct).ConfigureAwait(false);
                if (disposition.IsFileDisposition())
                {
                    if (!TryIndex(key, "image", out int i))
                    {
                        throw new RequestRejectedException(400, "bad request", $"unexpected file part '{key}'; expected image[i]");
                    }

                    if (!files.TryAdd(i, buffer.ToArray()))
                    {
                        throw new RequestRejectedException(400, "bad request", $"file part '{key}' appears more than once");
                    }

                    continue;
                }

                string value;
                try
                {
                    value = StrictUtf8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
                }
                catch (DecoderFallbackException)
                {
                    throw new RequestRejectedException(400, "bad request", $"form field '{key}' is not valid UTF-8");
                }

                bool repeated;
                if (TryIndex(key, "prompt", out int p))
                {
                    repeated = !prompts.TryAdd(p, value);
                }
                else if (key == "normalize")
                {
                    repeated = normalize is not null;
                    normalize = value;
                }
                else
                {
                    throw new RequestRejectedException(400, "bad request", $"unexpected form field '{key}'; expected prompt[i] fields and image[i] files");
                }

                if (repeated)
                {
                    throw new RequestRejectedException(400, "bad request", $"form field '{key}' appears more than once");
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw new RequestRejectedException(400, "malformed multipart body", ex.Message);
        }
        catch (IOException ex) when (!ct.IsCancellationRequested && ex is not BadHttpRequestException)
        {
            // A body that ends before the closing boundary ("Unexpected end of Stream").
            throw new RequestRejectedException(400, "malformed multipart body", $"the body ended before the multipart form did: {ex.Message}");
        }

        return (prompts, files, normalize);
    }

    /// <summary>An application/x-www-form-urlencoded body carries no image parts: every item is reported as missing one.</summary>
    private static async Task<(Dictionary<int, string> Prompts, Dictionary<int, byte[]> Files, string? Normalize)> ReadUrlEncodedAsync(HttpRequest request, CancellationToken ct)
    {
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(ct).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            throw new RequestRejectedException(400, "malformed form body", ex.Message);
        }

        var prompts = new Dictionary<int, string>();
        foreach (var (key, value) in form)
        {
            if (TryIndex(key, "prompt", out int i))
            {
                prompts[i] = value.ToString();
            }
            else if (key != "normalize")
            {
                throw new RequestRejectedException(400, "bad request", $"unexpected form field '{key}'; expected prompt[i] fields and image[i] files");
            }
        }

        return (prompts, [], form.TryGetValue("normalize", out var nv) ? nv.ToString() : null);
    }

    private static bool TryIndex(string key, string prefix, out int index)
    {
        index = -1;
        return key.Length > prefix.Length + 2 && key.StartsWith(prefix + "[", StringComparison.Ordinal) && key[^1] == ']'
            && int.TryParse(key.AsSpan(prefix.Length + 1, key.Length - prefix.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out index);
    }

    private static ParsedItem Guard(Func<ScoreRequest> read)
    {
        try
        {
            return new ParsedItem(read(), null);
        }
        catch (ItemRejectedException ex)
        {
            return new ParsedItem(null, ex.Message);
        }
    }

    private void CheckContentLength(HttpRequest request)
    {
        if (request.ContentLength > options.MaxRequestBodyBytes)
        {
            throw BodyTooLarge();
        }
    }

    /// <summary>Reads <c>"scorers": ["a", "b"]</c> or <c>"rewards": {"a": 1.0, "b": 0.5}</c> (not both).</summary>
    private static (IReadOnlyList<string>? Scorers, IReadOnlyDictionary<string, double>? Weights) ReadScorers(JsonElement root)
    {
        bool hasList = root.TryGetProperty("scorers", out var list) && list.ValueKind != JsonValueKind.Null;
        bool hasMix = root.TryGetProperty("rewards", out var mix) && mix.ValueKind != JsonValueKind.Null;
        if (hasList && hasMix)
        {
            throw new RequestRejectedException(400, "bad request", "give either \"scorers\" or \"rewards\", not both");
        }

        if (hasList)
        {
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0 || list.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            {
                throw new RequestRejectedException(400, "bad request", "\"scorers\" must be a non-empty array of scorer names");
            }

            var names = list.EnumerateArray().Select(e => e.GetString()!).ToList();
            if (names.Distinct(StringComparer.Ordinal).Count() != names.Count)
            {
                throw new RequestRejectedException(400, "bad request", "\"scorers\" names a scorer twice");
            }

            return (names, null);
        }

        if (hasMix)
        {
            if (mix.ValueKind != JsonValueKind.Object || !mix.EnumerateObject().Any())
            {
                throw new RequestRejectedException(400, "bad request", "\"rewards\" must be a non-empty object of scorer name → weight");
            }

            var order = new List<string>();
            var weights = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var p in mix.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !double.IsFinite(p.Value.GetDouble()))
                {
                    throw new RequestRejectedException(400, "bad request", $"\"rewards\": the weight of '{p.Name}' must be a finite number");
                }

                if (!weights.TryAdd(p.Name, p.Value.GetDouble()))
                {
                    throw new RequestRejectedException(400, "bad request", $"\"rewards\" names '{p.Name}' twice");
                }

                order.Add(p.Name);
            }

            return (order, weights);
        }

        return (null, null);
    }

    private RequestRejectedException BodyTooLarge() => new(413, "request body too large",
        $"the body is larger than the limit max_request_body_bytes = {options.MaxRequestBodyBytes}", "max_request_body_bytes", options.MaxRequestBodyBytes);

    private void CheckItemCount(int count)
    {
        if (count > options.MaxItemsPerRequest)
        {
            throw new RequestRejectedException(413, "too many items",
                $"the request has {count} items; the limit max_items is {options.MaxItemsPerRequest}", "max_items", options.MaxItemsPerRequest);
        }

        if (count == 0)
        {
            throw new RequestRejectedException(400, "bad request", "the request has no items");
        }
    }

    private async Task<JsonDocument> ParseJsonAsync(HttpRequest request, CancellationToken ct)
    {
        try
        {
            var doc = await JsonDocument.ParseAsync(request.Body, DocumentOptions, ct).ConfigureAwait(false);

            // JSON text is UTF-8 (RFC 8259), but the parser only checks a string when it is read, so invalid bytes in
            // a field nobody reads would pass. One vectorised pass over the raw text refuses them all.
            if (!System.Text.Unicode.Utf8.IsValid(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(doc.RootElement)))
            {
                doc.Dispose();
                throw new RequestRejectedException(400, "malformed JSON", "the body is not valid UTF-8");
            }

            return doc;
        }
        catch (JsonException ex)
        {
            throw new RequestRejectedException(400, "malformed JSON", ex.Message);
        }
    }

    private static JsonElement RequireObject(JsonElement root) => root.ValueKind == JsonValueKind.Object
        ? root
        : throw new RequestRejectedException(400, "bad request", "the body must be a JSON object");

    private static string RequirePrompt(JsonElement root) =>
        root.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String
            ? p.GetString()!
            : throw new RequestRejectedException(400, "bad request", "the body needs \"prompt\": a string");

    private static bool ReadNormalize(JsonElement n) => n.ValueKind switch
    {
        JsonValueKind.Undefined or JsonValueKind.Null => false,
        JsonValueKind.String => ReadNormalizeText(n.GetString()!),
        _ => throw new RequestRejectedException(400, "bad request", "\"normalize\" must be \"group\" or absent"),
    };

    private static bool ReadNormalizeText(string s) => s switch
    {
        "group" => true,
        "" or "none" => false,
        _ => throw new RequestRejectedException(400, "bad request", $"\"normalize\" must be \"group\" or absent, not '{s}'"),
    };
}
