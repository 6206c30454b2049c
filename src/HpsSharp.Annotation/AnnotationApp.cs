using System.Globalization;
using HpsSharp.Core.Scoring;
using HpsSharp.Evaluation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HpsSharp.Annotation;

/// <summary>Settings of the annotation app.</summary>
public sealed class AnnotationAppOptions
{
    /// <summary>The pairs to annotate (HPDv3 JSON or JSONL); the pair id is the index in this file.</summary>
    public required string PairsFile { get; init; }

    /// <summary>The folder image paths are relative to; images outside it are refused.</summary>
    public required string ImagesRoot { get; init; }

    /// <summary>The SQLite database (created when missing).</summary>
    public required string Database { get; init; }

    /// <summary>Pairs with known answers (path1 preferred), mixed in to measure annotators; optional.</summary>
    public string? GoldFile { get; init; }

    /// <summary>Share of each annotator's answers that are gold pairs (used only with <see cref="GoldFile"/>).</summary>
    public double GoldRate { get; init; } = 0.1;

    /// <summary>Addresses to listen on.</summary>
    public IReadOnlyList<string> Urls { get; init; } = ["http://127.0.0.1:8090"];

    /// <summary>Loads the scorer whose uncertainty orders the pairs; null: round-robin by fewest judgements.</summary>
    public Func<CancellationToken, Task<IScorer>>? LoadScorer { get; init; }

    /// <summary>Score cache file for the model's scores (null: no cache).</summary>
    public string? ScoreCachePath { get; init; }

    /// <summary>Seed for the left/right draws (null: random).</summary>
    public int? Seed { get; init; }

    /// <summary>Checks the values, naming the one that is wrong.</summary>
    public void Validate()
    {
        if (!(GoldRate is >= 0 and < 1))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"the gold rate must be at least 0 and below 1 (got {GoldRate})"));
        }

        if (!Directory.Exists(ImagesRoot))
        {
            throw new DirectoryNotFoundException($"image root folder not found: {ImagesRoot}");
        }

        if (Urls.Count == 0)
        {
            throw new ArgumentException("give at least one address to listen on");
        }
    }
}

/// <summary>
/// The annotation web app: the page at <c>/</c>, the images of the pairs under <c>/images/</c>, and the API
/// (<c>GET /api/next</c>, <c>POST /api/judgement</c>, <c>GET /api/progress</c>, <c>GET /healthz</c>).
/// </summary>
public static partial class AnnotationApp
{
    /// <summary>
    /// Opens (or creates) the database, adds the pairs of the pairs and gold files, and builds the app. With a
    /// scorer, the pairs are scored in the background once the app starts (the page works meanwhile); the app owns
    /// the scorer and the database and disposes them when it stops.
    /// </summary>
    public static WebApplication Build(AnnotationAppOptions options, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        // Read and check both files before touching the database, so a bad file leaves it as it was.
        var pairs = PairFile.Load(options.PairsFile, options.ImagesRoot, gold: false);
        var gold = options.GoldFile is null ? [] : PairFile.Load(options.GoldFile, options.ImagesRoot, gold: true);
        var store = AnnotationStore.Open(options.Database, create: true);
        try
        {
            store.AddPairs(pairs, options.PairsFile);
            if (gold.Count > 0)
            {
                store.AddPairs(gold, options.GoldFile!);
            }

            var queue = new AnnotationQueue(store, gold.Count > 0 ? options.GoldRate : 0, options.Seed is { } s ? new Random(s) : null);
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                ApplicationName = typeof(AnnotationApp).Assembly.GetName().Name,
                ContentRootPath = AppContext.BaseDirectory,
            });
            builder.WebHost.UseUrls([.. options.Urls]);
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                k.Limits.MaxRequestBodySize = 64 * 1024;
            });
            if (logging is not null)
            {
                builder.Logging.ClearProviders();
                logging(builder.Logging);
            }

            builder.Services.ConfigureHttpJsonOptions(j =>
            {
                // The context's metadata is generated with these options, so its naming settings are repeated here.
                j.SerializerOptions.TypeInfoResolverChain.Insert(0, AnnotationJsonContext.Default);
                j.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            });
            builder.Services.AddProblemDetails();
            builder.Services.AddSingleton(queue);
            builder.Services.AddSingleton(new ImageCatalog(options.ImagesRoot, store.Pairs()));
            if (options.LoadScorer is not null)
            {
                queue.UseModel();
                builder.Services.AddSingleton(new ScoringSettings(options.LoadScorer, options.ScoreCachePath, options.ImagesRoot));
                builder.Services.AddHostedService<ScoringWorker>();
            }

            var app = builder.Build();
            app.Lifetime.ApplicationStopped.Register(store.Dispose);
            AnnotationEndpoints.Map(app);
            return app;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>When the model has scored every pair (completed at once without a model).</summary>
    public static Task ModelScoring(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return Worker(app)?.ExecuteTask ?? Task.CompletedTask;
    }

    /// <summary>Why the model could not be loaded or used (the app stops then); null otherwise.</summary>
    public static Exception? ModelError(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return Worker(app)?.Error;
    }

    private static ScoringWorker? Worker(WebApplication app) =>
        app.Services.GetServices<IHostedService>().OfType<ScoringWorker>().FirstOrDefault();

    /// <summary>What the background scoring needs.</summary>
    internal sealed record ScoringSettings(Func<CancellationToken, Task<IScorer>> LoadScorer, string? CachePath, string ImagesRoot);

    /// <summary>Loads the scorer and scores every pair once, then disposes the scorer (it is not needed after).</summary>
    internal sealed partial class ScoringWorker(ScoringSettings settings, AnnotationQueue queue, IHostApplicationLifetime lifetime, ILogger<ScoringWorker> logger) : BackgroundService
    {
        /// <summary>Why the model could not be loaded or used; null while it works.</summary>
        public Exception? Error { get; private set; }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                using var scorer = await settings.LoadScorer(stoppingToken).ConfigureAwait(false);
                using var cache = settings.CachePath is null ? null : new ScoreCache(settings.CachePath);
                LogScoring(logger, queue.Pairs.Count, scorer.Model.Describe());
                var done = await ModelUncertainty.ScoreAsync(queue, scorer, cache, settings.ImagesRoot,
                    new InlineProgress(p => LogProgress(logger, p.Scored, p.Total)), stoppingToken).ConfigureAwait(false);
                LogScored(logger, done.Scored, done.Total, done.Failed);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                // A model that was asked for and cannot be used stops the app: serving in another order than the
                // one asked for would be a silent wrong answer. (A single unreadable image only leaves its pair unscored.)
                Error = ex;
                LogFailed(logger, ex.Message, ex);
                // Stop once started: stopping while Kestrel binds would turn the reason into a cancellation.
                lifetime.ApplicationStarted.Register(lifetime.StopApplication);
            }
        }

        /// <summary>Reports on the scoring thread, so progress lines come before the final line (Progress&lt;T&gt; posts to the pool).</summary>
        private sealed class InlineProgress(Action<UncertaintyProgress> report) : IProgress<UncertaintyProgress>
        {
            public void Report(UncertaintyProgress value) => report(value);
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "ordering {Pairs} pairs by uncertainty, scoring them with {Model}")]
        private static partial void LogScoring(ILogger logger, int pairs, string model);

        [LoggerMessage(Level = LogLevel.Information, Message = "scored {Scored}/{Total} pairs")]
        private static partial void LogProgress(ILogger logger, int scored, int total);

        [LoggerMessage(Level = LogLevel.Information, Message = "model order ready: {Scored}/{Total} pairs scored, {Failed} could not be scored (served after the others)")]
        private static partial void LogScored(ILogger logger, int scored, int total, int failed);

        [LoggerMessage(Level = LogLevel.Error, Message = "the model could not score the pairs, stopping: {Reason}")]
        private static partial void LogFailed(ILogger logger, string reason, Exception ex);
    }
}
