using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HpsSharp.Core.Scoring;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HpsSharp.Server.Protocols;

/// <summary>
/// cosmos-rl's reward service pair (NVIDIA cosmos-rl <c>reward_service</c>: <c>launcher/reward_serve.py</c>,
/// <c>handler/decode.py</c>, <c>model/hpsv3.py</c>, <c>example/image_client.py</c>).
/// <c>POST /api/reward/enqueue</c> takes <c>JSON header + "\n" + NPY bytes</c>: the header
/// <c>{"media_type": "image", "prompts": [...], "reward_fn": {"hpsv3": weight}}</c>, the NPY an uint8 array
/// <c>[B,H,W,3]</c> (or <c>[B,3,H,W]</c>, as upstream's HPSv3 handler accepts), and answers <c>{"uuid"}</c> at once.
/// <c>POST /api/reward/pull</c> (form fields <c>uuid</c>, <c>type</c>) answers 400 <c>{"message"}</c> until the scores
/// are ready, then <c>{"scores": {"hpsv3": [...]}, "input_info", "duration", "decoded_duration", "type"}</c>.
/// Results are kept for <see cref="ResultTtl"/> after they are ready (upstream keeps them in Redis).
/// </summary>
public static partial class CosmosRlProtocol
{
    /// <summary>How long a finished result stays pullable.</summary>
    public static readonly TimeSpan ResultTtl = TimeSpan.FromMinutes(10);

    /// <summary>Most results held at once (oldest finished ones are dropped first).</summary>
    public const int MaxResults = 4096;

    /// <summary>Maps enqueue, pull and ping.</summary>
    public static IEndpointRouteBuilder MapCosmosRl(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapPost("/api/reward/enqueue", EnqueueAsync).WithSummary("cosmos-rl: JSON header line + \\n + NPY uint8 [B,H,W,3] -> {uuid}");
        app.MapPost("/api/reward/pull", PullAsync).WithSummary("cosmos-rl: form fields uuid, type -> {scores: {hpsv3: [...]}, input_info, duration, decoded_duration, type}; 400 {message} until ready");
        app.MapPost("/api/reward/ping", () => TypedResults.Text("{\"message\":\"Ping request received\"}", "application/json"))
            .WithSummary("cosmos-rl availability check");
        return app;
    }

    /// <summary>Finished and pending results by uuid, then reward type.</summary>
    public sealed class ResultStore
    {
        private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

        internal sealed class Entry
        {
            public required IReadOnlyList<string> Types { get; init; }

            private long _finishedTicks;

            public ConcurrentDictionary<string, string> Results { get; } = new(StringComparer.Ordinal);

            // Written by the scoring continuation, read by pruning on other threads: ticks, read and written atomically.
            public DateTime? FinishedAt
            {
                get => Interlocked.Read(ref _finishedTicks) is var t and > 0 ? new DateTime(t, DateTimeKind.Utc) : null;
                set => Interlocked.Exchange(ref _finishedTicks, value?.Ticks ?? 0);
            }
        }

        internal Entry Add(string uuid, IReadOnlyList<string> types)
        {
            Prune();
            var e = new Entry { Types = types };
            _entries[uuid] = e;
            return e;
        }

        internal bool TryGet(string uuid, out Entry entry) => _entries.TryGetValue(uuid, out entry!);

        /// <summary>Pending and finished results held now.</summary>
        public int Count => _entries.Count;

        private void Prune()
        {
            var now = DateTime.UtcNow;
            foreach (var (k, v) in _entries)
            {
                if (v.FinishedAt is { } t && now - t > ResultTtl)
                {
                    _entries.TryRemove(k, out _);
                }
            }

            if (_entries.Count >= MaxResults)
            {
                foreach (var (k, _) in _entries.Where(e => e.Value.FinishedAt is not null).OrderBy(e => e.Value.FinishedAt).Take(_entries.Count - MaxResults + 1).ToList())
                {
                    _entries.TryRemove(k, out _);
                }
            }
        }
    }

    private static Task<IResult> EnqueueAsync(HttpContext ctx, ScoringQueue queue, RewardServiceOptions options, ImageReader images, ResultStore store) =>
        ScoringEndpoints.Guard(ctx, async () =>
        {
            long start = Stopwatch.GetTimestamp();
            var body = await ProtocolSupport.ReadBodyAsync(ctx.Request, options, ctx.RequestAborted).ConfigureAwait(false);
            int nl = Array.IndexOf(body, (byte)'\n');
            if (nl < 0)
            {
                throw new RequestRejectedException(400, "bad request", "the body must be a JSON header, a newline, then NPY bytes (delimiter \\n not found)");
            }

            JsonObject header;
            try
            {
                header = JsonNode.Parse(body.AsSpan(0, nl)) as JsonObject
                    ?? throw new RequestRejectedException(400, "bad request", "the header line must be a JSON object");
            }
            catch (JsonException ex)
            {
                throw new RequestRejectedException(400, "malformed JSON header", ex.Message);
            }

            if (header["media_type"]?.GetValue<string>() is not { } media || !media.Equals("image", StringComparison.OrdinalIgnoreCase))
            {
                throw new RequestRejectedException(400, "bad request",
                    "only \"media_type\": \"image\" (uint8 pixels) is accepted; video latents need cosmos-rl's Wan2.1 decoder, which this service does not run");
            }

            if (header["reward_fn"] is not JsonObject rewardFn)
            {
                throw new RequestRejectedException(400, "bad request", "the header needs \"reward_fn\": {\"hpsv3\": weight}");
            }

            // Upstream drops reward types with weight <= 0.
            var types = rewardFn.Where(kv => kv.Value is JsonValue v && v.TryGetValue<double>(out var w) && w > 0).Select(kv => kv.Key).ToList();
            var prompts = header["prompts"] switch
            {
                JsonArray a => a.Select(p => p?.GetValueKind() == JsonValueKind.String ? p.GetValue<string>() : null).ToList(),
                JsonValue v when v.GetValueKind() == JsonValueKind.String => [v.GetValue<string>()],
                _ => throw new RequestRejectedException(400, "bad request", "the header needs \"prompts\": one str per image"),
            };

            var array = Npy.Parse(body.AsMemory(nl + 1));
            ProtocolSupport.CheckItemCount(array.Batch, options);
            images.CheckPixels(array.Width, array.Height, "the image tensor");
            if (prompts.Count != array.Batch)
            {
                throw new RequestRejectedException(400, "bad request", $"prompts length ({prompts.Count}) must match batch size ({array.Batch})");
            }

            if (prompts.Any(p => p is null))
            {
                throw new RequestRejectedException(400, "bad request", "every prompt must be a str");
            }

            var requests = Enumerable.Range(0, array.Batch)
                .Select(i => new ScoreRequest(prompts[i]!, ImageInput.FromRgb(array.Rgb(i), array.Width, array.Height, $"images[{i}]")))
                .ToList();
            double decodeSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var (min, max) = array.Range();
            var inputInfo = new JsonObject
            {
                ["shape"] = new JsonArray([.. array.Shape.Select(s => (JsonNode)s)]),
                ["dtype"] = "torch.uint8",
                ["min"] = min.ToString("F3", CultureInfo.InvariantCulture),
                ["max"] = max.ToString("F3", CultureInfo.InvariantCulture),
            };

            string uuid = Guid.NewGuid().ToString();
            bool wantsHps = types.Contains("hpsv3");
            Task<ScoreResult>[] tasks = [];
            if (wantsHps)
            {
                var status = queue.TryEnqueue(requests, CancellationToken.None, out tasks);
                if (status != EnqueueStatus.Accepted)
                {
                    ctx.Response.Headers.RetryAfter = options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                    throw new RequestRejectedException(503, status == EnqueueStatus.QueueFull ? "queue full" : "not ready",
                        $"the service cannot take {requests.Count} more items now; retry after {options.RetryAfterSeconds} s");
                }
            }

            var entry = store.Add(uuid, types);
            foreach (var t in types.Where(t => t != "hpsv3"))
            {
                entry.Results[t] = Answer(t, null, $"[{t}] this service serves only hpsv3", inputInfo, 0, decodeSeconds).ToJsonString();
            }

            if (!wantsHps)
            {
                entry.FinishedAt = DateTime.UtcNow;
                return TypedResults.Text(new JsonObject { ["uuid"] = uuid }.ToJsonString(), "application/json");
            }

            var monitor = ctx.RequestServices.GetService(typeof(Monitoring.RewardMonitor)) as Monitoring.RewardMonitor;
            _ = Task.WhenAll(tasks).ContinueWith(done =>
            {
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                string json;
                if (done.IsCompletedSuccessfully)
                {
                    var results = tasks.Select(t => t.Result).ToList();
                    monitor?.Record(results);
                    var bad = results.FirstOrDefault(r => r.Score is not { } s || !double.IsFinite(s.Mu));
                    json = bad is not null
                        ? Answer("hpsv3", null, $"[hpsv3] inference failed: {bad.Request.Image.Name}: {bad.Error ?? "non-finite score"}", inputInfo, seconds, decodeSeconds).ToJsonString()
                        : Answer("hpsv3", results.Select(r => r.Score!.Value.Mu).ToList(), null, inputInfo, seconds, decodeSeconds).ToJsonString();
                }
                else
                {
                    json = Answer("hpsv3", null, "[hpsv3] the service stopped before these images were scored", inputInfo, seconds, decodeSeconds).ToJsonString();
                }

                entry.Results["hpsv3"] = json;
                entry.FinishedAt = DateTime.UtcNow;
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

            return TypedResults.Text(new JsonObject { ["uuid"] = uuid }.ToJsonString(), "application/json");
        });

    private static JsonObject Answer(string type, IReadOnlyList<double>? scores, string? error, JsonObject inputInfo, double seconds, double decodeSeconds)
    {
        var o = new JsonObject();
        if (error is not null)
        {
            o["error"] = error;
        }

        o["scores"] = scores is null ? null : new JsonObject { [type] = new JsonArray([.. scores.Select(s => (JsonNode)s)]) };
        o["input_info"] = inputInfo.DeepClone();
        o["duration"] = seconds.ToString("F2", CultureInfo.InvariantCulture);
        o["decoded_duration"] = decodeSeconds.ToString("F2", CultureInfo.InvariantCulture);
        o["type"] = type;
        return o;
    }

    private static Task<IResult> PullAsync(HttpContext ctx, ResultStore store) =>
        ScoringEndpoints.Guard(ctx, async () =>
        {
            string? uuid = null, type = null;
            if (ctx.Request.HasFormContentType)
            {
                var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted).ConfigureAwait(false);
                uuid = form["uuid"];
                type = form["type"];
            }

            if (string.IsNullOrEmpty(uuid))
            {
                return TypedResults.Json(new JsonObject { ["detail"] = "form field 'uuid' is required" }, statusCode: 422);
            }

            if (!store.TryGet(uuid, out var entry))
            {
                return NotReady(uuid);
            }

            type = string.IsNullOrEmpty(type) ? entry.Types.FirstOrDefault() ?? "hpsv3" : type;
            return entry.Results.TryGetValue(type, out var json)
                ? TypedResults.Text(json, "application/json")
                : NotReady(uuid);
        });

    // Upstream answers 400 with this message until the scores are in Redis; its clients poll on any non-200.
    private static IResult NotReady(string uuid) =>
        TypedResults.Text(new JsonObject { ["message"] = $"Not found scores for {uuid}" }.ToJsonString(), "application/json", Encoding.UTF8, 400);

    /// <summary>A NumPy <c>.npy</c> uint8 array of images, as <c>np.save(buf, arr, allow_pickle=False)</c> writes it.</summary>
    internal sealed partial class Npy
    {
        private readonly ReadOnlyMemory<byte> _data;
        private readonly bool _channelsFirst;

        private Npy(ReadOnlyMemory<byte> data, int[] shape, bool channelsFirst)
        {
            _data = data;
            Shape = shape;
            _channelsFirst = channelsFirst;
            Batch = shape[0];
            Height = channelsFirst ? shape[2] : shape[1];
            Width = channelsFirst ? shape[3] : shape[2];
        }

        public int[] Shape { get; }

        public int Batch { get; }

        public int Height { get; }

        public int Width { get; }

        /// <summary>Image <paramref name="i"/> as interleaved RGB (a copy; transposed when the array is [B,3,H,W]).</summary>
        public ReadOnlyMemory<byte> Rgb(int i)
        {
            int plane = Width * Height;
            var src = _data.Span.Slice(i * plane * 3, plane * 3);
            if (!_channelsFirst)
            {
                return _data.Slice(i * plane * 3, plane * 3);
            }

            var rgb = new byte[plane * 3];
            for (int p = 0; p < plane; p++)
            {
                rgb[p * 3] = src[p];
                rgb[(p * 3) + 1] = src[plane + p];
                rgb[(p * 3) + 2] = src[(2 * plane) + p];
            }

            return rgb;
        }

        public (byte Min, byte Max) Range()
        {
            byte min = 255, max = 0;
            foreach (byte b in _data.Span)
            {
                min = Math.Min(min, b);
                max = Math.Max(max, b);
            }

            return _data.IsEmpty ? ((byte)0, (byte)0) : (min, max);
        }

        public static Npy Parse(ReadOnlyMemory<byte> file)
        {
            var s = file.Span;
            if (s.Length < 10 || s[0] != 0x93 || !s[1..6].SequenceEqual("NUMPY"u8))
            {
                throw Bad("the bytes after the header line are not an NPY array (np.save output expected)");
            }

            int major = s[6];
            int headerLen, offset;
            if (major == 1)
            {
                headerLen = s[8] | (s[9] << 8);
                offset = 10;
            }
            else if (major is 2 or 3 && s.Length >= 12)
            {
                headerLen = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(s[8..]);
                offset = 12;
            }
            else
            {
                throw Bad($"NPY format version {major} is not supported");
            }

            if (headerLen < 0 || offset + headerLen > s.Length || headerLen > 64 * 1024)
            {
                throw Bad("the NPY header is truncated");
            }

            string header = Encoding.Latin1.GetString(s.Slice(offset, headerLen));
            var descr = DescrRegex().Match(header);
            if (!descr.Success || descr.Groups[1].Value is not ("|u1" or "<u1" or ">u1" or "u1"))
            {
                throw Bad($"the array must be uint8 ('|u1'), not {(descr.Success ? descr.Groups[1].Value : "an unknown dtype")}");
            }

            if (!FortranRegex().Match(header).Groups[1].Value.Equals("False", StringComparison.Ordinal))
            {
                throw Bad("Fortran-ordered arrays are not accepted (np.ascontiguousarray first)");
            }

            var shapeMatch = ShapeRegex().Match(header);
            if (!shapeMatch.Success)
            {
                throw Bad("the NPY header has no shape");
            }

            var shape = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(x => int.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1).ToArray();
            if (shape.Length != 4 || shape.Any(d => d <= 0))
            {
                throw Bad($"the array must be 4-D [B,H,W,3] with positive sizes, not ({shapeMatch.Groups[1].Value})");
            }

            bool channelsFirst = shape[3] != 3 && shape[1] == 3;
            if (shape[3] != 3 && !channelsFirst)
            {
                throw Bad($"channel dim must be 3, got shape ({string.Join(", ", shape)})");
            }

            long expected = (long)shape[0] * shape[1] * shape[2] * shape[3];
            var data = file[(offset + headerLen)..];
            if (data.Length != expected)
            {
                throw Bad($"the array data has {data.Length} bytes but shape ({string.Join(", ", shape)}) needs {expected}");
            }

            return new Npy(data, shape, channelsFirst);
        }

        private static RequestRejectedException Bad(string detail) => new(400, "bad tensor", detail);

        [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
        private static partial Regex DescrRegex();

        [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
        private static partial Regex FortranRegex();

        [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
        private static partial Regex ShapeRegex();
    }
}
