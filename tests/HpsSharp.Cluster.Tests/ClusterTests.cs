using System.Text.Json;
using HpsSharp.Testing;

namespace HpsSharp.Cluster.Tests;

/// <summary>
/// End to end on a real cluster: redis-server and worker processes of the built hps program on 127.0.0.1 (see
/// <see cref="ClusterFixture"/>). Scores are compared with single-machine scoring of the same model, bf16, batch
/// size 1 on both sides, with tolerance 0 (bit-identical).
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class ClusterTests(ClusterFixture cluster) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Manifest_is_spread_over_workers_and_equals_single_machine_scores()
    {
        var manifest = cluster.Manifest("spread.jsonl", 12);
        var outPath = cluster.Dir.File("spread.out.jsonl");
        var (code, output) = await cluster.HpsAsync(ClientTimeout, "score", "--cluster", cluster.Cluster, "--manifest", manifest, "--out", outPath, "--job", "spread");
        Assert.True(code == 0, output);

        var lines = ClusterFixture.ReadOutput(outPath);
        Assert.Equal(Enumerable.Range(0, 12), lines.Keys);
        Assert.Equal(lines.Keys, File.ReadLines(outPath).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("index").GetInt32()));
        var workers = lines.Values.Select(l => l.GetProperty("worker").GetString()).ToHashSet();
        Assert.Contains("w1", workers);
        Assert.Contains("w2", workers);

        var expected = await cluster.SingleMachineAsync(manifest);
        for (int i = 0; i < expected.Count; i++)
        {
            var line = lines[i];
            Assert.Equal(expected[i].Request.Image.Name, line.GetProperty("image").GetString());
            Assert.Equal(expected[i].Request.Prompt, line.GetProperty("prompt").GetString());
            Assert.Equal(expected[i].Score!.Value.Mu, line.GetProperty("mu").GetDouble());
            Assert.Equal(expected[i].Score!.Value.LogSigma, line.GetProperty("log_sigma").GetDouble());
        }

        var (statusCode, status) = await cluster.HpsAsync(ClientTimeout, "cluster", "status", "--cluster", cluster.Cluster, "--json");
        Assert.True(statusCode == 0, status);
        var doc = JsonDocument.Parse(status[status.IndexOf('{', StringComparison.Ordinal)..]).RootElement;
        var names = doc.GetProperty("workers").EnumerateArray().Select(w => w.GetProperty("name").GetString()).ToList();
        Assert.Contains("w1", names);
        Assert.All(doc.GetProperty("workers").EnumerateArray(), w =>
        {
            Assert.Equal(32, w.GetProperty("model").GetString()!.Length);
            Assert.True(w.GetProperty("items_done").GetInt64() >= 0);
            Assert.Equal(JsonValueKind.False, w.GetProperty("busy").ValueKind is JsonValueKind.True ? JsonValueKind.False : w.GetProperty("busy").ValueKind);
        });
        var job = doc.GetProperty("jobs").EnumerateArray().Single(j => j.GetProperty("job").GetString() == "spread");
        Assert.Equal(12, job.GetProperty("done").GetInt32());
        Assert.Equal(12, job.GetProperty("total").GetInt32());
        Assert.Equal(0, job.GetProperty("failed").GetInt32());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Bad_items_become_error_lines_and_the_rest_is_scored(bool upload)
    {
        var corrupt = cluster.Dir.File("corrupt.png");
        await File.WriteAllTextAsync(corrupt, "this is not a PNG");
        var missing = cluster.Dir.File("missing.png");
        var manifest = cluster.Manifest($"bad-{upload}.jsonl", 4, i => i switch
        {
            0 => ("good one", TestPaths.Image("chelsea.png")),
            1 => ("missing", missing),
            2 => ("corrupt", corrupt),
            _ => ("good two", TestPaths.Image("coffee.png")),
        });
        var outPath = cluster.Dir.File($"bad-{upload}.out.jsonl");
        var args = new List<string> { "score", "--cluster", cluster.Cluster, "--manifest", manifest, "--out", outPath, "--job", $"bad-{upload}" };
        if (upload)
        {
            args.Add("--upload");
        }

        var (code, output) = await cluster.HpsAsync(ClientTimeout, [.. args]);
        Assert.True(code == 1, output);
        Assert.Contains("2 of 4 item(s) could not be scored", output, StringComparison.Ordinal);
        var lines = ClusterFixture.ReadOutput(outPath);
        Assert.Equal([0, 1, 2, 3], lines.Keys);
        Assert.True(lines[0].TryGetProperty("mu", out _));
        Assert.True(lines[3].TryGetProperty("mu", out _));
        Assert.Contains(upload ? "cannot read image for upload" : "missing.png", lines[1].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.False(lines[1].TryGetProperty("mu", out _));
        Assert.False(string.IsNullOrEmpty(lines[2].GetProperty("error").GetString()));
        Assert.False(lines[2].TryGetProperty("mu", out _));
    }

    [Fact]
    public async Task Killed_client_rerun_with_the_same_job_continues_without_rescoring()
    {
        // Enough items that the first client is still collecting when it is killed, even on a fast, idle machine.
        var manifest = cluster.Manifest("resume.jsonl", 40);
        var outPath = cluster.Dir.File("resume.out.jsonl");
        // Counted once the workers are idle and their counts stand still: items of an earlier test's job that are
        // still in flight must not count as rescoring here.
        var before = await SettledItemsDoneAsync();
        var args = new[] { "score", "--cluster", cluster.Cluster, "--manifest", manifest, "--out", outPath, "--job", "resume" };
        var first = cluster.StartHps(args);
        await WaitUntilAsync(() => File.Exists(outPath) && File.ReadAllLines(outPath).Length >= 2, TimeSpan.FromSeconds(90), () => first.Output);
        first.Kill();
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        var kept = File.ReadAllLines(outPath).Where(l => l.Length > 0 && l.EndsWith('}')).ToList();
        Assert.NotEmpty(kept);

        var (code, output) = await cluster.HpsAsync(ClientTimeout, args);
        Assert.True(code == 0, output);
        Assert.Contains("job 'resume' continues", output, StringComparison.Ordinal);
        var lines = ClusterFixture.ReadOutput(outPath);
        Assert.Equal(Enumerable.Range(0, 40), lines.Keys);
        var all = File.ReadAllLines(outPath).ToHashSet();
        Assert.All(kept, k => Assert.Contains(k, all));

        // Every item was scored once in the whole cluster: the rerun only collected.
        // Counted per live worker: a worker that an earlier test stopped leaves the registry with its count, and
        // a dead worker cannot have scored this job.
        // Workers report their counts with their heartbeat: read them once they have settled.
        var after = await SettledItemsDoneAsync();
        long scored = after.Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));
        Assert.Equal(40, scored);

        var expected = await cluster.SingleMachineAsync(manifest);
        Assert.All(lines, kv => Assert.Equal(expected[kv.Key].Score!.Value.Mu, kv.Value.GetProperty("mu").GetDouble()));
    }

    [Fact]
    public async Task Worker_killed_mid_job_loses_nothing()
    {
        using var victim = cluster.StartWorker("victim");
        await cluster.WaitForWorkersAsync(["victim"], TimeSpan.FromSeconds(90));
        var manifest = cluster.Manifest("kill.jsonl", 12);
        var outPath = cluster.Dir.File("kill.out.jsonl");
        var client = cluster.StartHps("score", "--cluster", cluster.Cluster, "--manifest", manifest, "--out", outPath, "--job", "kill", "--lease-seconds", "3");
        await WaitUntilAsync(async () => (await cluster.WorkersAsync()).Any(w => w.Worker.Name == "victim" && (w.Busy || w.ItemsDone > 0)), TimeSpan.FromSeconds(90), () => victim.Output);
        victim.Kill();

        int code = await client.WaitAsync(ClientTimeout);
        Assert.True(code == 0, client.Output);
        var lines = ClusterFixture.ReadOutput(outPath);
        Assert.Equal(Enumerable.Range(0, 12), lines.Keys);
        var expected = await cluster.SingleMachineAsync(manifest);
        Assert.All(lines, kv =>
        {
            Assert.False(kv.Value.TryGetProperty("error", out _), kv.Value.ToString());
            Assert.Equal(expected[kv.Key].Score!.Value.Mu, kv.Value.GetProperty("mu").GetDouble());
        });
    }

    [Fact]
    public async Task Worker_with_another_model_is_refused()
    {
        using var other = cluster.StartWorker("fp32", "--dtype", "fp32");
        await cluster.WaitForWorkersAsync(["fp32"], TimeSpan.FromSeconds(90));
        var manifest = cluster.Manifest("mismatch.jsonl", 6);
        var outPath = cluster.Dir.File("mismatch.out.jsonl");

        // With two models live the client cannot guess which one is meant.
        var (ambiguous, why) = await cluster.HpsAsync(ClientTimeout, "score", "--cluster", cluster.Cluster, "--manifest", manifest, "--out", outPath);
        Assert.True(ambiguous == 1, why);
        Assert.Contains("the workers run different models", why, StringComparison.Ordinal);

        var bf16 = (await cluster.WorkersAsync()).First(w => w.Worker.Name == "w1").Worker.Fingerprint;
        var (code, output) = await cluster.HpsAsync(ClientTimeout, "score", "--cluster", cluster.Cluster, "--manifest", manifest, "--out", outPath, "--job", "mismatch", "--model-fingerprint", bf16);
        Assert.True(code == 0, output);
        var lines = ClusterFixture.ReadOutput(outPath);
        Assert.Equal(Enumerable.Range(0, 6), lines.Keys);
        Assert.DoesNotContain(lines.Values, l => l.GetProperty("worker").GetString() == "fp32");
        await WaitUntilAsync(() => other.Output.Contains("refused", StringComparison.Ordinal), TimeSpan.FromSeconds(30), () => other.Output);
        Assert.Contains("worker 'fp32' refused for job 'mismatch'", other.Output, StringComparison.Ordinal);
        Assert.Contains("fp32", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_drains_a_busy_worker()
    {
        using var leaving = cluster.StartWorker("leaving");
        await cluster.WaitForWorkersAsync(["leaving"], TimeSpan.FromSeconds(90));
        var manifest = cluster.Manifest("drain.jsonl", 24);
        var outPath = cluster.Dir.File("drain.out.jsonl");
        var client = cluster.StartHps("score", "--cluster", cluster.Cluster, "--manifest", manifest, "--out", outPath, "--job", "drain");
        // Busy is a sampled flag: on a fast machine a batch can start and end between two looks, so a worker that has
        // already scored counts as having taken work too.
        await WaitUntilAsync(async () => (await cluster.WorkersAsync()).Any(w => w.Worker.Name == "leaving" && (w.Busy || w.ItemsDone > 0)), TimeSpan.FromSeconds(90), () => leaving.Output);
        leaving.Terminate();
        int exit = await leaving.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, leaving.Output);
        Assert.Contains("worker leaving stopped", leaving.Output, StringComparison.Ordinal);

        int code = await client.WaitAsync(ClientTimeout);
        Assert.True(code == 0, client.Output);
        var lines = ClusterFixture.ReadOutput(outPath);
        Assert.Equal(Enumerable.Range(0, 24), lines.Keys);
        Assert.DoesNotContain(lines.Values, l => l.TryGetProperty("error", out _));
    }

    private async Task<Dictionary<string, long>> SettledItemsDoneAsync()
    {
        long last = -1;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var workers = await cluster.WorkersAsync();
            long sum = workers.Sum(w => w.ItemsDone);
            if (sum == last && workers.All(w => !w.Busy))
            {
                return workers.ToDictionary(w => w.Worker.Name, w => w.ItemsDone, StringComparer.Ordinal);
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the workers did not settle within 60 s");
            }

            last = sum;
            await Task.Delay(1000);
        }
    }

    private static Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string> context) =>
        WaitUntilAsync(() => Task.FromResult(condition()), timeout, context);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> context)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"condition not met within {timeout}; output:\n{context()}");
            }

            await Task.Delay(100);
        }
    }
}
