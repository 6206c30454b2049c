using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace HpsSharp.Testing.Generators;

/// <summary>A generation request a fake server received (txt2img or img2img), with what the fake read from it.</summary>
public sealed record FakeGenerationRequest(int Number, string Operation, string Prompt, long Seed, int Width, int Height, double? Strength, byte[]? InitImage, JsonNode Body);

/// <summary>What a fake server does instead of answering a generation request normally.</summary>
/// <param name="Status">HTTP status to answer (0: answer normally after <paramref name="Delay"/>).</param>
/// <param name="Delay">Wait before answering (to trigger client timeouts).</param>
/// <param name="ExecutionError">ComfyUI only: accept the prompt, then report an execution error in /history.</param>
public sealed record FakeFault(int Status = 500, TimeSpan Delay = default, bool ExecutionError = false, string Message = "injected failure");

/// <summary>
/// Base of the fake generation servers: an <see cref="HttpListener"/> on 127.0.0.1 at a free port, a log of the
/// generation requests, and fault injection. Started by the constructor, stopped by Dispose.
/// </summary>
public abstract class FakeGeneratorServer : IDisposable
{
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<FakeGenerationRequest> _requests = new();
    private int _generationCount;

    protected FakeGeneratorServer(int port = 0)
    {
        (_listener, Port) = Start(port);
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The port the server listens on.</summary>
    public int Port { get; }

    /// <summary>The base URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Decides, per generation request, whether to fail it (null: answer normally).</summary>
    public Func<FakeGenerationRequest, FakeFault?>? Faults { get; set; }

    /// <summary>Generation requests received so far, in arrival order (including failed ones).</summary>
    public IReadOnlyList<FakeGenerationRequest> Requests => [.. _requests];

    /// <summary>Lines written for each request (the tool prints them).</summary>
    public Action<string>? Log { get; set; }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (ObjectDisposedException)
        {
        }

        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Handles one request; returns false when the path is unknown (404).</summary>
    protected abstract Task<bool> HandleAsync(HttpListenerContext context, byte[] body);

    /// <summary>Logs a generation request and returns the fault to apply, if any.</summary>
    protected FakeFault? Register(string operation, string prompt, long seed, int width, int height, double? strength, byte[]? init, JsonNode body)
    {
        var req = new FakeGenerationRequest(Interlocked.Increment(ref _generationCount), operation, prompt, seed, width, height, strength, init, body);
        _requests.Enqueue(req);
        var fault = Faults?.Invoke(req);
        Log?.Invoke($"#{req.Number} {operation} seed={seed} {width}x{height}{(strength is double s ? $" strength={s}" : string.Empty)}{(fault is null ? string.Empty : $" -> fault {fault.Status}")}");
        return fault;
    }

    protected static async Task WriteJsonAsync(HttpListenerContext context, JsonNode json, int status = 200)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(json);
        var bytes = Encoding.UTF8.GetBytes(json.ToJsonString());
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        context.Response.Close();
    }

    protected static async Task WriteBytesAsync(HttpListenerContext context, byte[] bytes, string contentType, int status = 200)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(bytes);
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        context.Response.Close();
    }

    /// <summary>Answers a fault's status after its delay; false when the fault only delays.</summary>
    protected async Task<bool> ApplyFaultAsync(HttpListenerContext context, FakeFault? fault)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (fault is null)
        {
            return false;
        }

        if (fault.Delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(fault.Delay, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return true;
            }
        }

        if (fault.Status == 0 || fault.ExecutionError)
        {
            return false;
        }

        await WriteJsonAsync(context, new JsonObject { ["error"] = fault.Message, ["detail"] = fault.Message }, fault.Status).ConfigureAwait(false);
        return true;
    }

    private static (HttpListener, int) Start(int port)
    {
        for (int attempt = 0; ; attempt++)
        {
            int p = port;
            if (p == 0)
            {
                using var probe = new TcpListener(IPAddress.Loopback, 0);
                probe.Start();
                p = ((IPEndPoint)probe.LocalEndpoint).Port;
                probe.Stop();
            }

            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{p}/");
            try
            {
                listener.Start();
                return (listener, p);
            }
            catch (HttpListenerException) when (port == 0 && attempt < 20)
            {
                listener.Close();
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(context));
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        try
        {
            using var ms = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(ms).ConfigureAwait(false);
            if (!await HandleAsync(context, ms.ToArray()).ConfigureAwait(false))
            {
                await WriteJsonAsync(context, new JsonObject { ["detail"] = "Not Found" }, 404).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
        {
            // The client went away (for example after its timeout); nothing to answer.
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            try
            {
                await WriteJsonAsync(context, new JsonObject { ["error"] = "bad request", ["detail"] = ex.Message }, 400).ConfigureAwait(false);
            }
            catch (Exception inner) when (inner is HttpListenerException or ObjectDisposedException or IOException or InvalidOperationException)
            {
            }
        }
    }
}
