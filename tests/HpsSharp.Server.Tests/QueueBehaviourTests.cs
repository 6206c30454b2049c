using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace HpsSharp.Server.Tests;

[Trait("Category", "Integration")]
public sealed class QueueBehaviourTests
{
    private static object Items(int n, int seed) => new
    {
        items = Enumerable.Range(0, n).Select(i => new { prompt = "p", image = TestImages.Base64(TestImages.Png(4, 4, (byte)(seed + i))) }).ToArray(),
    };

    [Fact]
    public async Task AFullQueueAnswers503WithRetryAfter()
    {
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(300) };
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { PrepareAhead = false, MaxBatchSize = 1, QueueCapacity = 2, MaxItemsPerRequest = 2, RetryAfterSeconds = 3 });
        var first = host.PostJsonAsync("/v1/score", Items(1, 0));
        await ServiceHost.WaitUntilAsync(() => scorer.Calls == 1, "the worker took the first item");
        var second = host.PostJsonAsync("/v1/score", Items(2, 10));
        await ServiceHost.WaitUntilAsync(() => host.App.Queue().Depth == 2, "two items wait in the queue");

        var (status, body, response) = await host.PostJsonAsync("/v1/score", Items(1, 20));
        Assert.Equal(503, status);
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter!.Delta);
        Assert.Equal("queue_capacity", (string)body!["limit"]!);

        Assert.Equal(200, (await first).Status);
        Assert.Equal(200, (await second).Status);
        Assert.Equal(3, scorer.Items);
        var metrics = await host.Client.GetStringAsync("/metrics");
        Assert.Contains("hps_rejected_requests_total{reason=\"unavailable\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFullBatchWaitingIsHandedToTheScorerWhileTheCurrentOneRuns()
    {
        // 8 items at once, batches of 2: the second batch must start while the first is scored (its images get prepared
        // during the forward), and never more than two batches may be in flight.
        var scorer = new OverlapScorer();
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { MaxBatchSize = 2 });
        var (status, body, _) = await host.PostJsonAsync("/v1/score", Items(8, 0));
        Assert.Equal(200, status);
        Assert.All(body!["results"]!.AsArray(), r => Assert.NotNull(r!["mu"]));
        Assert.Equal(2, scorer.MaxInFlight);
        Assert.Equal([2, 2, 2, 2], scorer.BatchSizes);

        // Off: one batch at a time.
        var serial = new OverlapScorer();
        await using var host2 = await ServiceHost.StartAsync(serial, new RewardServiceOptions { MaxBatchSize = 2, PrepareAhead = false });
        Assert.Equal(200, (await host2.PostJsonAsync("/v1/score", Items(8, 0))).Status);
        Assert.Equal(1, serial.MaxInFlight);
    }

    private sealed class OverlapScorer : IScorer
    {
        private int _inFlight;
        private int _max;

        public ModelInfo Model { get; } = new("overlap", "overlap", false, "fp32", 200704, 200704);

        public int MaxInFlight => Volatile.Read(ref _max);

        public System.Collections.Concurrent.ConcurrentQueue<int> BatchSizes { get; } = new();

        public async Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            BatchSizes.Enqueue(requests.Count);
            int now = Interlocked.Increment(ref _inFlight);
            int seen;
            while ((seen = Volatile.Read(ref _max)) < now && Interlocked.CompareExchange(ref _max, now, seen) != seen)
            {
            }

            await Task.Delay(150, cancellationToken);
            Interlocked.Decrement(ref _inFlight);
            return requests.Select(r => ScoreResult.Success(r, new Score(1, 0))).ToArray();
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task ItemsOfAClientThatDisconnectedAreDropped()
    {
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(400) };
        await using var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { PrepareAhead = false, MaxBatchSize = 1 });
        var first = host.PostJsonAsync("/v1/score", Items(1, 0));
        await ServiceHost.WaitUntilAsync(() => scorer.Calls == 1, "the worker took the first item");

        using var cts = new CancellationTokenSource();
        var gone = host.PostJsonAsync("/v1/score", Items(3, 10), ct: cts.Token);
        await ServiceHost.WaitUntilAsync(() => host.App.Queue().Depth == 3, "the second request's items are queued");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);

        Assert.Equal(200, (await first).Status);
        await ServiceHost.WaitUntilAsync(() => host.App.Metrics().Items("dropped") == 3, "the worker dropped the three items");
        Assert.Equal(200, (await host.PostJsonAsync("/v1/score", Items(1, 30))).Status);
        Assert.Equal(2, scorer.Items); // the first request and the last one; never the abandoned three
    }

    [Fact]
    public async Task ReadyzWaitsForTheModelAndWorkIsRefusedUntilThen()
    {
        var load = new TaskCompletionSource<IScorer>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ServiceHost.StartAsync(_ => load.Task);
        using var notReady = await host.Client.GetAsync("/readyz");
        Assert.Equal(503, (int)notReady.StatusCode);
        Assert.Equal(200, (int)(await host.Client.GetAsync("/healthz")).StatusCode);
        var (status, _, response) = await host.PostJsonAsync("/v1/score", Items(1, 0));
        Assert.Equal(503, status);
        Assert.NotNull(response.Headers.RetryAfter);

        load.SetResult(new FakeScorer());
        await ServiceHost.WaitUntilAsync(() => host.App.Queue().IsReady, "the model is loaded");
        Assert.Equal(200, (int)(await host.Client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(200, (await host.PostJsonAsync("/v1/score", Items(1, 0))).Status);
    }

    [Fact]
    public async Task AFailedModelLoadStopsTheServiceAndSaysWhy()
    {
        var app = RewardService.Build(_ => Task.FromException<IScorer>(new FileNotFoundException("no weights in /models/x")),
            new RewardServiceOptions { Urls = ["http://127.0.0.1:0"] }, l => { });
        await app.StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await app.WaitForShutdownAsync(cts.Token);
        Assert.False(cts.IsCancellationRequested, "the service should stop by itself");
        Assert.Contains("no weights", app.Queue().LoadError!.Message, StringComparison.Ordinal);
        await app.DisposeAsync();
    }

    [Fact]
    public async Task StoppingDoesNotWaitForAModelThatIsStillLoading()
    {
        var never = new TaskCompletionSource<IScorer>(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = RewardService.Build(_ => never.Task, new RewardServiceOptions { Urls = ["http://127.0.0.1:0"] }, l => { });
        await app.StartAsync();
        using var shutdown = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await app.StopAsync(shutdown.Token).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.False(app.Queue().IsReady);
        never.SetResult(new FakeScorer());
        await app.DisposeAsync();
    }

    [Fact]
    public async Task ShutdownFinishesWorkInFlight()
    {
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(200) };
        var host = await ServiceHost.StartAsync(scorer, new RewardServiceOptions { PrepareAhead = false, MaxBatchSize = 2 });
        try
        {
            var pending = host.PostJsonAsync("/v1/score", Items(5, 0));
            await ServiceHost.WaitUntilAsync(() => scorer.Calls == 1, "the first batch started");
            var stop = host.App.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            var (status, body, _) = await pending;
            await stop;
            Assert.Equal(200, status);
            Assert.All(body!["results"]!.AsArray(), r => Assert.NotNull(r!["mu"]));
            Assert.Equal(5, scorer.Items);
            Assert.False(host.App.Queue().IsReady);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }
}
