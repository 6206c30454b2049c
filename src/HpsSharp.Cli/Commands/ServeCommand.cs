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
        var model = new ModelOptions();
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
        var scorers = new Option<string?>("--scorers")
        {
            Description = "Host several scorers, e.g. hpsv3,pickscore: the first is the primary (its folder is --model unless --model-for names one); requests pick with \"scorers\" or \"rewards\"",
        };
        var modelFor = new Option<string[]>("--model-for") { Description = "NAME=DIR: the model folder of one of --scorers (repeat per scorer)", AllowMultipleArgumentsPerToken = false };
        var calibrationFor = new Option<string[]>("--calibration-for") { Description = "NAME=calib.json: the calibration of one of --scorers (a \"rewards\" mix sums percentiles when all have one)" };
        cmd.Options.Add(scorers);
        cmd.Options.Add(modelFor);
        cmd.Options.Add(calibrationFor);
        cmd.SetAction(async (parse, ct) =>
        {
            var clusterAddress = parse.GetValue(cluster) is { } c ? Cluster.ClusterAddress.Parse(c, parse.GetValue(clusterId)) : null;
            var scorerOptions = clusterAddress is null ? model.Read(parse) : null;
            if (clusterAddress is not null && (parse.GetValue(scorers) is not null || parse.GetValue(modelFor) is { Length: > 0 }))
            {
                throw new UsageException("--scorers and --model-for do not go with --cluster (the workers hold the model)");
            }

            var hosted = scorerOptions is null ? new List<ScorerOptions>() : HostedScorers(parse, scorers, modelFor, model, scorerOptions);
            var calibrations = NamedPaths.Parse(parse.GetValue(calibrationFor), "--calibration-for", [.. hosted.Select(h => h.Scorer)], "hosted scorers")
                .ToDictionary(kv => kv.Key, kv => HpsSharp.Core.Scoring.Calibration.Load(kv.Value), StringComparer.Ordinal);
            var key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("HPS_API_KEY");
            var options = new RewardServiceOptions
            {
                OptionNames = OptionFlags.Names,
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
                Calibrations = calibrations,
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
                    if (clusterAddress is not null)
                    {
                        var gateway = await Cluster.ClusterScorer.ConnectAsync(clusterAddress, parse.GetValue(fingerprint), "serve", line => env.Error.WriteLine(line), loadCt).ConfigureAwait(false);
                        env.Error.WriteLine($"model: {gateway.Model.Describe()}");
                        ScoreCommand.WarnIfOtherModel(env, options.Calibration, gateway.Model);
                        return gateway;
                    }

                    var loaded = new List<(string, HpsSharp.Core.Scoring.IScorer)>();
                    try
                    {
                        foreach (var h in hosted)
                        {
                            var scorer = await Task.Run(() => env.ScorerLoader(h), loadCt).ConfigureAwait(false);
                            loaded.Add((h.Scorer, scorer));
                            env.Error.WriteLine($"model: {scorer.Model.Describe()}");
                            ScoreCommand.WarnIfOtherModel(env, loaded.Count == 1 ? options.Calibration : null, scorer.Model);
                            ScoreCommand.WarnIfOtherModel(env, calibrations.GetValueOrDefault(h.Scorer), scorer.Model);
                        }
                    }
                    catch
                    {
                        foreach (var (_, s) in loaded)
                        {
                            s.Dispose();
                        }

                        throw;
                    }

                    return loaded.Count == 1 ? loaded[0].Item2 : new ScorerSet(loaded);
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

    /// <summary>
    /// The scorers to host: <c>--scorer</c> alone, or each of <c>--scorers</c> with its folder (<c>--model-for</c>, the
    /// first falling back to <c>--model</c>). The baselines run in fp32 on the CPU whatever the primary's device.
    /// </summary>
    private static List<ScorerOptions> HostedScorers(ParseResult parse, Option<string?> scorers, Option<string[]> modelFor, ModelOptions model, ScorerOptions primary)
    {
        var list = parse.GetValue(scorers);
        if (list is null)
        {
            if (parse.GetValue(modelFor) is { Length: > 0 })
            {
                throw new UsageException("--model-for needs --scorers (the scorers to host)");
            }

            return [primary];
        }

        if (parse.GetResult(model.Scorer) is { Implicit: false })
        {
            throw new UsageException("give either --scorer (one) or --scorers (several), not both");
        }

        var canonical = NamedPaths.ScorerNames(list, "--scorers");
        var folders = NamedPaths.Parse(parse.GetValue(modelFor), "--model-for", canonical, "hosted scorers");
        var hosted = new List<ScorerOptions>();
        for (int i = 0; i < canonical.Count; i++)
        {
            var name = canonical[i];
            var dir = folders.GetValueOrDefault(name) ?? (i == 0 ? primary.ModelDir
                : throw new UsageException($"--scorers: '{name}' needs its model folder: --model-for {name}=DIR"));
            if (!Directory.Exists(dir))
            {
                throw new DirectoryNotFoundException($"--model-for {name}: folder not found: {dir}");
            }

            bool isHps = name == HpsSharp.Modeling.Scorers.ScorerRegistry.Default;
            hosted.Add(primary with
            {
                ModelDir = dir,
                Scorer = name,
                Dtype = isHps ? primary.Dtype : Precision.Fp32,
                Device = isHps ? primary.Device : DeviceSpec.Cpu,
            });
        }

        return hosted;
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
