using System.CommandLine;
using System.Net;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps serve</c>: the HTTP reward service (micro-batched scoring for RL and labelling).</summary>
public sealed class ServeCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var defaults = new RewardServiceOptions();
        var model = new ModelOptions(baselines: false); // the service and CoHP report σ: HPSv3 only for now
        model.BatchSize.Description = "Most items per scorer batch (the micro-batch size)";
        model.BatchSize.DefaultValueFactory = _ => defaults.MaxBatchSize;
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, separated by ';' (loopback unless told otherwise)", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        urls.Validators.Add(r =>
        {
            foreach (var url in (r.GetValueOrDefault<string>() ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!IsListenUrl(url))
                {
                    r.AddError($"--urls: '{url}' is not an address to listen on (expected e.g. http://127.0.0.1:8080 or https://0.0.0.0:8443)");
                }
            }
        });
        var maxWait = new Option<int>("--max-wait-ms") { Description = "How long a batch waits for more items after its first", DefaultValueFactory = _ => defaults.MaxWaitMs };
        var queue = new Option<int>("--queue-capacity") { Description = "Items that may wait; more are answered 503 with Retry-After", DefaultValueFactory = _ => defaults.QueueCapacity };
        var maxItems = new Option<int>("--max-items") { Description = "Most items in one request (413 above)", DefaultValueFactory = _ => defaults.MaxItemsPerRequest };
        var maxBody = new Option<int>("--max-body-mb") { Description = "Largest request body in MiB (413 above)", DefaultValueFactory = _ => (int)(defaults.MaxRequestBodyBytes / (1024 * 1024)) };
        var maxPixels = new Option<long>("--max-pixels") { Description = "Largest image in pixels, read from its header before decoding (400 above)", DefaultValueFactory = _ => defaults.MaxDecodedPixels };
        var maxInflight = new Option<int>("--max-inflight-mb") { Description = "Budget for request bodies in flight, in MiB; requests beyond it get 503 with Retry-After before their body is read", DefaultValueFactory = _ => (int)(defaults.MaxInflightBytes / (1024 * 1024)) };
        var drain = new Option<int>("--drain-timeout-s") { Description = "On SIGTERM or Ctrl+C: how long accepted requests may take to be answered (new ones get 503)", DefaultValueFactory = _ => defaults.DrainTimeoutSeconds };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on every endpoint except /healthz and /readyz (default: $HPS_API_KEY)" };
        var imageRoot = new Option<string?>("--image-root") { Description = "Let items name files by \"path\", relative to this folder and never outside it" };
        var cmd = new Command("serve", "Run the HTTP reward service: POST /v1/score, /v1/compare, /v1/rank; GET /healthz, /readyz, /metrics, /openapi.json");
        model.AddTo(cmd);
        cmd.Options.Add(urls);
        cmd.Options.Add(maxWait);
        cmd.Options.Add(queue);
        cmd.Options.Add(maxItems);
        cmd.Options.Add(maxBody);
        cmd.Options.Add(maxPixels);
        cmd.Options.Add(maxInflight);
        cmd.Options.Add(drain);
        cmd.Options.Add(apiKey);
        cmd.Options.Add(imageRoot);
        var calibration = new Option<string?>("--calibration") { Description = "calib.json from 'hps calibrate': results carry \"percentile\", \"reward\": \"percentile\" works, /v1/monitor reports drift" };
        cmd.Options.Add(calibration);

        // hps serve --cluster: a gateway that loads no model and spreads the batches over the cluster's workers.
        var cluster = new Option<string?>("--cluster") { Description = "Serve as a gateway to a cluster's workers (redis://HOST:PORT) instead of loading a model here" };
        var clusterId = ClusterCommand.ClusterIdOption();
        var fingerprint = new Option<string?>("--model-fingerprint") { Description = "With --cluster: the model the workers must run (default: the one every live worker runs)" };
        cmd.Options.Add(cluster);
        cmd.Options.Add(clusterId);
        cmd.Options.Add(fingerprint);
        model.Model.Required = false;
        model.Model.Description += "; not used with --cluster (the workers hold the model)";
        cmd.Validators.Add(r =>
        {
            bool viaCluster = r.GetResult(cluster) is not null;
            if (viaCluster == (r.GetResult(model.Model) is not null))
            {
                r.AddError("give exactly one of --model DIR or --cluster redis://HOST:PORT");
            }

            if (!viaCluster && r.GetResult(fingerprint) is not null)
            {
                r.AddError("--model-fingerprint goes with --cluster");
            }
        });
        cmd.SetAction(async (parse, ct) =>
        {
            var clusterAddress = parse.GetValue(cluster) is { } c ? Cluster.ClusterAddress.Parse(c, parse.GetValue(clusterId)) : null;
            var scorerOptions = clusterAddress is null ? model.Read(parse) : null;
            var key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("HPS_API_KEY");
            var options = new RewardServiceOptions
            {
                Urls = parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                MaxBatchSize = scorerOptions?.BatchSize ?? parse.GetValue(model.BatchSize),
                MaxWaitMs = parse.GetValue(maxWait),
                QueueCapacity = parse.GetValue(queue),
                MaxItemsPerRequest = parse.GetValue(maxItems),
                MaxRequestBodyBytes = parse.GetValue(maxBody) * 1024L * 1024L,
                MaxDecodedPixels = parse.GetValue(maxPixels),
                // Unless given, the budget grows with a larger body limit so that four of the largest bodies fit.
                MaxInflightBytes = parse.GetResult(maxInflight) is null
                    ? Math.Max(defaults.MaxInflightBytes, 4L * parse.GetValue(maxBody) * 1024L * 1024L)
                    : parse.GetValue(maxInflight) * 1024L * 1024L,
                DrainTimeoutSeconds = parse.GetValue(drain),
                ApiKey = string.IsNullOrEmpty(key) ? null : key,
                ImageRoot = parse.GetValue(imageRoot),
                Calibration = parse.GetValue(calibration) is { } cp ? HpsSharp.Core.Scoring.Calibration.Load(cp) : null,
            };
            try
            {
                options.Validate();
            }
            catch (UserInputException ex) when (ex.Input != "image root")
            {
                // Settings out of range or inconsistent with each other are usage errors (exit 2); a missing image
                // folder is a user error like any missing file.
                throw new UsageException(ex.Message, ex);
            }

            foreach (var url in options.Urls)
            {
                if (!IsLoopback(url) && options.ApiKey is null)
                {
                    env.ErrorConsole.MarkupLine($"[yellow]warning:[/] listening on {Markup.Escape(url)}, beyond this machine, without --api-key");
                }
            }

            // The model loads in the background: the service listens at once and /readyz turns 200 when it is loaded.
            var app = RewardService.Build(
                async loadCt =>
                {
                    var scorer = clusterAddress is not null
                        ? await Cluster.ClusterScorer.ConnectAsync(clusterAddress, parse.GetValue(fingerprint), "serve", line => env.Error.WriteLine(line), loadCt).ConfigureAwait(false)
                        : await Task.Run(() => env.ScorerLoader(scorerOptions!), loadCt).ConfigureAwait(false);
                    env.Error.WriteLine($"model: {scorer.Model.Describe()}");
                    ScoreCommand.WarnIfOtherModel(env, options.Calibration, scorer.Model);
                    return scorer;
                },
                options,
                logging => logging.AddProvider(new WriterLoggerProvider(env)).SetMinimumLevel(LogLevel.Information)
                    .AddFilter("Microsoft.AspNetCore", LogLevel.Warning));
            await using (app.ConfigureAwait(false))
            {
                await app.StartAsync(ct).ConfigureAwait(false);
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
                if (app.Queue().LoadError is { } error)
                {
                    throw error is HpsException or IOException or ArgumentException or NotSupportedException or UnauthorizedAccessException
                        ? error
                        : new UserInputException(clusterAddress is null ? "--model" : "--cluster", $"the model could not be loaded: {error.Message}", error);
                }
            }

            return CliApp.Ok;
        });
        return cmd;
    }

    /// <summary>An http(s) URL Kestrel can bind ('*' and '+' stand for every address), with no path or query.</summary>
    private static bool IsListenUrl(string url) =>
        Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && uri.AbsolutePath == "/" && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.UserInfo);

    private static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    /// <summary>Log lines on the command's writers: information on stdout, warnings and errors on stderr.</summary>
    internal sealed class WriterLoggerProvider(CliEnvironment env) : ILoggerProvider
    {
        private readonly Lock _lock = new();

        public ILogger CreateLogger(string categoryName) => new WriterLogger(this);

        public void Dispose()
        {
        }

        private void Write(LogLevel level, string message, Exception? ex)
        {
            lock (_lock)
            {
                var writer = level >= LogLevel.Warning ? env.Error : env.Out;
                writer.WriteLine($"{Label(level)}: {message}");
                if (ex is not null)
                {
                    writer.WriteLine($"      {ex.GetType().Name}: {ex.Message}");
                }

                writer.Flush();
            }
        }

        private static string Label(LogLevel level) => level switch
        {
            LogLevel.Critical => "crit",
            LogLevel.Error => "fail",
            LogLevel.Warning => "warn",
            LogLevel.Information => "info",
            _ => "dbug",
        };

        private sealed class WriterLogger(WriterLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    owner.Write(logLevel, formatter(state, exception), exception);
                }
            }
        }
    }
}
