using System.Net;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Server.Tests;

/// <summary>
/// <c>/metrics</c> is OpenTelemetry's Prometheus exporter over <see cref="ServiceMetrics"/>: the series keep the
/// names, labels and bucket bounds the load test, the docs and dashboards read.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MetricsTests
{
    [Fact]
    public async Task HistogramsExportCumulativeBucketsWithTheServiceBounds()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxBatchSize = 4 });
        var m = host.App.Metrics();
        m.RecordBatch(1, 0.02);
        m.RecordBatch(3, 0.2);
        m.RecordBatch(4, 0.3);
        m.RecordItems("ok", 7);
        var text = await host.Client.GetStringAsync("/metrics");
        Assert.Contains("hps_batch_size_bucket{le=\"1\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"2\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"3\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"4\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_bucket{le=\"+Inf\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_sum{} 8\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_size_count{} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_duration_seconds_bucket{le=\"0.025\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batch_duration_seconds_bucket{le=\"0.25\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_batches_total{} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_items_total{outcome=\"ok\"} 7\n", text, StringComparison.Ordinal);
        Assert.Contains("hps_items_total{outcome=\"dropped\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE hps_batch_size histogram\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE hps_items_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE hps_queue_depth gauge\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoServicesInOneProcessExportOnlyTheirOwnNumbers()
    {
        await using var a = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxBatchSize = 4 });
        await using var b = await ServiceHost.StartAsync(new FakeScorer(), new RewardServiceOptions { MaxBatchSize = 2, QueueCapacity = 777 });
        a.App.Metrics().RecordBatch(3, 0.1);
        a.App.Metrics().RecordItems("error", 5);
        var textA = await a.Client.GetStringAsync("/metrics");
        var textB = await b.Client.GetStringAsync("/metrics");
        Assert.Contains("hps_batches_total{} 1\n", textA, StringComparison.Ordinal);
        Assert.Contains("hps_items_total{outcome=\"error\"} 5\n", textA, StringComparison.Ordinal);
        Assert.Contains("hps_queue_capacity{} 1024\n", textA, StringComparison.Ordinal);
        Assert.DoesNotContain("hps_batches_total{} 1\n", textB, StringComparison.Ordinal);
        Assert.Contains("hps_items_total{outcome=\"error\"} 0\n", textB, StringComparison.Ordinal);
        Assert.Contains("hps_queue_capacity{} 777\n", textB, StringComparison.Ordinal);
        Assert.DoesNotContain("hps_batch_size_bucket{le=\"3\"}", textB, StringComparison.Ordinal); // b's buckets stop at 2
    }

    [Fact]
    public async Task ProbesAnswerWithTheStatusDocumentAndOnlyToGet()
    {
        var load = new TaskCompletionSource<IScorer>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ServiceHost.StartAsync(_ => load.Task, new RewardServiceOptions { QueueCapacity = 640 });
        using (var loading = await host.Client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, loading.StatusCode);
            Assert.StartsWith("application/json", loading.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
            var body = JsonNode.Parse(await loading.Content.ReadAsStringAsync())!;
            Assert.Equal("not ready", (string)body["status"]!);
            Assert.Equal(640, (int)body["queue_capacity"]!);
            Assert.Null(body["model"]);
        }

        var live = JsonNode.Parse(await host.Client.GetStringAsync("/healthz"))!;
        Assert.Equal("ok", (string)live["status"]!);
        using (var post = await host.Client.PostAsync("/healthz", new StringContent("")))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        }

        using (var post = await host.Client.PostAsync("/metrics", new StringContent("")))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        }

        load.SetResult(new FakeScorer());
        await ServiceHost.WaitUntilAsync(() => host.App.Queue().IsReady, "the model is loaded");
        var ready = JsonNode.Parse(await host.Client.GetStringAsync("/readyz"))!;
        Assert.Equal("ready", (string)ready["status"]!);
        Assert.Equal(0, (int)ready["queue_depth"]!);
        Assert.NotNull(ready["model"]);
    }
}
