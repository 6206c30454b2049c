using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Polly;
using Polly.Retry;

namespace HpsSharp.Cohp.Generators;

/// <summary>
/// Shared HTTP plumbing of the backends: one <see cref="HttpClient"/> per generator, a per-attempt timeout, and
/// retries with exponential backoff for transient failures (connection errors, timeouts, 5xx, 429). Other 4xx
/// answers and malformed answers fail at once. Every failure surfaces as a <see cref="GeneratorException"/>.
/// </summary>
public abstract class HttpGenerator : IImageGenerator
{
    private readonly HttpClient _http;

    protected HttpGenerator(GeneratorSpec spec, HttpMessageHandler? handler)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = System.Threading.Timeout.InfiniteTimeSpan; // per attempt, see WithRetriesAsync
        foreach (var (k, v) in spec.Headers)
        {
            _http.DefaultRequestHeaders.TryAddWithoutValidation(k, v);
        }
    }

    /// <inheritdoc/>
    public GeneratorSpec Spec { get; }

    /// <summary>Number of attempts made so far (first tries and retries).</summary>
    public int Attempts { get; private set; }

    /// <inheritdoc/>
    public abstract Task<GeneratedImage> TextToImageAsync(string prompt, long seed, CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public abstract Task<GeneratedImage> ImageToImageAsync(string prompt, long seed, ReadOnlyMemory<byte> initImage, double strength, CancellationToken cancellationToken = default);

    public void Dispose()
    {
        _http.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Runs <paramref name="attempt"/> with the spec's per-attempt timeout, retrying transient failures through a Polly
    /// retry strategy (<see cref="GeneratorSpec.Retries"/> retries, <see cref="GeneratorSpec.RetryDelay"/> doubled each
    /// time, no jitter). A non-transient answer fails at once; every failure surfaces as a <see cref="GeneratorException"/>.
    /// </summary>
    protected async Task<T> WithRetriesAsync<T>(string operation, Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        int made = 0;
        var retry = new ResiliencePipelineBuilder<T>();
        if (Spec.Retries > 0)
        {
            retry.AddRetry(new RetryStrategyOptions<T>
            {
                ShouldHandle = new PredicateBuilder<T>().Handle<TransientAttemptException>(),
                MaxRetryAttempts = Spec.Retries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = false,
                Delay = Spec.RetryDelay,
            });
        }

        try
        {
            return await retry.Build().ExecuteAsync(async ct =>
            {
                made++;
                Attempts++;
                return await OneAttemptAsync(attempt, ct).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (TransientAttemptException ex)
        {
            throw new GeneratorException(Spec.Name, Spec.Url.ToString(), operation, made == 1 ? ex.Message : $"{ex.Message}; gave up after {made} attempts");
        }
        catch (ServerAnswerException ex)
        {
            throw new GeneratorException(Spec.Name, Spec.Url.ToString(), operation, ex.Message, ex);
        }
    }

    /// <summary>One attempt under the spec's timeout; transient failures become <see cref="TransientAttemptException"/>.</summary>
    private async Task<T> OneAttemptAsync<T>(Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(Spec.Timeout);
        try
        {
            return await attempt(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientAttemptException($"no answer within {Spec.Timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s (timeout_s)");
        }
        catch (HttpRequestException ex)
        {
            throw new TransientAttemptException($"cannot reach the server ({ex.Message})");
        }
        catch (ServerAnswerException ex) when (ex.Transient)
        {
            throw new TransientAttemptException(ex.Message);
        }
    }

    /// <summary>A failure worth another attempt; its message is the reason reported if none succeeds.</summary>
    private sealed class TransientAttemptException(string message) : Exception(message);

    /// <summary>The absolute URL of <paramref name="relative"/> (a path with optional query) on the server.</summary>
    protected Uri Endpoint(string relative) => new(Spec.Url.ToString().TrimEnd('/') + relative);

    /// <summary>POSTs JSON and returns the JSON answer; non-success statuses become <see cref="ServerAnswerException"/>.</summary>
    protected async Task<JsonNode> PostJsonAsync(string relative, JsonNode body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(Endpoint(relative), content, cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(relative, response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>POSTs arbitrary content and returns the JSON answer.</summary>
    protected async Task<JsonNode> PostAsync(string relative, HttpContent content, CancellationToken cancellationToken)
    {
        using var response = await _http.PostAsync(Endpoint(relative), content, cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(relative, response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GETs JSON.</summary>
    protected async Task<JsonNode> GetJsonAsync(string relative, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(Endpoint(relative), cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(relative, response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GETs raw bytes.</summary>
    protected async Task<byte[]> GetBytesAsync(string relative, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(Endpoint(relative), cancellationToken).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        EnsureSuccess(relative, response, bytes);
        return bytes;
    }

    /// <summary>Decodes a base64 image (with or without a <c>data:</c> prefix) and checks it is an image.</summary>
    protected static GeneratedImage DecodeImage(string base64, string what)
    {
        ArgumentNullException.ThrowIfNull(base64);
        int comma = base64.StartsWith("data:", StringComparison.Ordinal) ? base64.IndexOf(',', StringComparison.Ordinal) : -1;
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(comma >= 0 ? base64[(comma + 1)..] : base64);
        }
        catch (FormatException)
        {
            throw new ServerAnswerException($"{what} is not valid base64", transient: false);
        }

        return CheckImage(bytes, what);
    }

    /// <summary>Throws when the bytes are not a PNG, JPEG or WebP image.</summary>
    protected static GeneratedImage CheckImage(byte[] bytes, string what)
    {
        var image = new GeneratedImage(bytes);
        if (image.Extension is null)
        {
            throw new ServerAnswerException($"{what} is not a PNG, JPEG or WebP image ({bytes.Length} bytes)", transient: false);
        }

        return image;
    }

    private static async Task<JsonNode> ReadJsonAsync(string relative, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        EnsureSuccess(relative, response, bytes);
        try
        {
            return JsonNode.Parse(bytes) ?? throw new ServerAnswerException($"{relative} answered JSON null", transient: false);
        }
        catch (JsonException ex)
        {
            throw new ServerAnswerException($"{relative} answered with something that is not JSON ({ex.Message})", transient: false);
        }
    }

    private static void EnsureSuccess(string relative, HttpResponseMessage response, byte[] body)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        int code = (int)response.StatusCode;
        string text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 400)).ReplaceLineEndings(" ").Trim();
        bool transient = code >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests || response.StatusCode == HttpStatusCode.RequestTimeout;
        throw new ServerAnswerException($"{relative} answered HTTP {code} {response.ReasonPhrase}{(text.Length > 0 ? $": {text}" : string.Empty)}", transient);
    }

    /// <summary>A server answer that is an error; transient ones are retried.</summary>
    protected sealed class ServerAnswerException : Exception
    {
        public ServerAnswerException(string message, bool transient)
            : base(message)
        {
            Transient = transient;
        }

        public bool Transient { get; }
    }
}
