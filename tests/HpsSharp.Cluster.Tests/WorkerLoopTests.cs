using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;
using HpsSharp.Cluster.Grains;
using HpsSharp.Core.Scoring;
using Microsoft.Extensions.Logging.Abstractions;

namespace HpsSharp.Cluster.Tests;

/// <summary>
/// The worker loop against in-memory grains: a batch that fails for the worker's circumstances is retried elsewhere
/// (its attempt counted), a bug stops the worker without blaming the items.
/// </summary>
[Trait("Category", "Unit")]
public sealed class WorkerLoopTests
{
    [Fact]
    public async Task A_device_failure_gives_the_batch_back_counting_the_attempt_and_the_worker_goes_on()
    {
        var grains = new FakeGrains();
        using var scorer = new ThrowingScorer(new ExternalException("CUDA out of memory"));
        var loop = new WorkerLoop(grains.Factory, scorer, Options(), NullLogger<WorkerLoop>.Instance);
        await loop.StartAsync(CancellationToken.None);
        await WaitAsync(() => grains.Returns.Count >= 2);
        await loop.StopAsync(CancellationToken.None);

        Assert.False(loop.ExecuteTask!.IsFaulted);
        var (indices, counted, reason) = grains.Returns.First();
        Assert.Equal(new[] { 0, 1 }, indices);
        Assert.True(counted);
        Assert.Equal("ExternalException: CUDA out of memory", reason);
    }

    [Fact]
    public async Task A_bug_in_the_scorer_stops_the_worker_and_does_not_blame_the_items()
    {
        var grains = new FakeGrains();
        using var scorer = new ThrowingScorer(new NullReferenceException("a bug"));
        var loop = new WorkerLoop(grains.Factory, scorer, Options(), NullLogger<WorkerLoop>.Instance);
        await loop.StartAsync(CancellationToken.None);
        await WaitAsync(() => loop.ExecuteTask!.IsCompleted);
        await loop.StopAsync(CancellationToken.None);

        var failure = Assert.IsType<ScorerFailedException>(loop.ExecuteTask!.Exception!.InnerException);
        Assert.IsType<NullReferenceException>(failure.InnerException);
        Assert.Contains("job 'j'", failure.Message, StringComparison.Ordinal);
        var (indices, counted, _) = Assert.Single(grains.Returns);
        Assert.Equal(new[] { 0, 1 }, indices);
        Assert.False(counted);
        Assert.Equal(1, scorer.Calls); // stopped: not retried in a loop
    }

    private static WorkerOptions Options() =>
        new(ClusterAddress.Parse("redis://127.0.0.1:1"), "w1", LeaseSize: 2, PollInterval: TimeSpan.FromMilliseconds(5));

    private static async Task WaitAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException("condition not met within 20 s");
            }

            await Task.Delay(10);
        }
    }

    private sealed class ThrowingScorer(Exception failure) : IScorer
    {
        private int _calls;

        public ModelInfo Model { get; } = new("throwing", "fp-1", false, "fp32", 1, 1);

        public int Calls => _calls;

        public Task<IReadOnlyList<ScoreResult>> ScoreAsync(IReadOnlyList<ScoreRequest> requests, IProgress<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            return Task.FromException<IReadOnlyList<ScoreResult>>(failure);
        }

        public void Dispose()
        {
        }
    }

    /// <summary>One job "j" whose two items are leased again whenever they have been given back.</summary>
    private sealed class FakeGrains
    {
        public FakeGrains()
        {
            var registry = Proxy.Create<IClusterRegistryGrain>((m, _) => m.Name == nameof(IClusterRegistryGrain.ActiveJobsAsync)
                ? Task.FromResult<IReadOnlyList<string>>(["j"])
                : null);
            var job = Proxy.Create<IJobGrain>((m, args) =>
            {
                switch (m.Name)
                {
                    case nameof(IJobGrain.LeaseAsync):
                        return Task.FromResult(new LeaseGrant("lease-" + Returns.Count, [new JobItem(0, "p", "a.png", [1], null), new JobItem(1, "p", "b.png", [2], null)], null, false));
                    case nameof(IJobGrain.ReturnAsync):
                        Returns.Enqueue(((IReadOnlyList<int>)args![2]!, (bool)args[3]!, (string)args[4]!));
                        return Task.CompletedTask;
                    default:
                        return null;
                }
            });
            Factory = Proxy.Create<IGrainFactory>((m, _) => m.IsGenericMethod && m.Name == nameof(IGrainFactory.GetGrain)
                ? m.GetGenericArguments()[0] == typeof(IJobGrain) ? job : registry
                : throw new NotSupportedException(m.Name));
        }

        public IGrainFactory Factory { get; }

        public ConcurrentQueue<(IReadOnlyList<int> Indices, bool Counted, string Reason)> Returns { get; } = new();
    }

    /// <summary>An interface implemented by a function; a null answer means "done" (a completed task, or default).</summary>
#pragma warning disable CA1852 // DispatchProxy derives from it at run time
    public class Proxy : DispatchProxy
#pragma warning restore CA1852
    {
        private Func<MethodInfo, object?[]?, object?> _handler = (_, _) => null;

        public static T Create<T>(Func<MethodInfo, object?[]?, object?> handler)
            where T : class
        {
            var proxy = DispatchProxy.Create<T, Proxy>();
            ((Proxy)(object)proxy)._handler = handler;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (_handler(targetMethod, args) is { } answer)
            {
                return answer;
            }

            var type = targetMethod.ReturnType;
            if (type == typeof(Task))
            {
                return Task.CompletedTask;
            }

            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Task<>))
            {
                var result = type.GetGenericArguments()[0];
                return typeof(Task).GetMethod(nameof(Task.FromResult))!.MakeGenericMethod(result).Invoke(null, [result.IsValueType ? Activator.CreateInstance(result) : null]);
            }

            return type.IsValueType && type != typeof(void) ? Activator.CreateInstance(type) : null;
        }
    }
}
