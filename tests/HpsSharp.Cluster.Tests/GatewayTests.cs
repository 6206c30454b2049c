using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Microsoft.Data.Sqlite;

namespace HpsSharp.Cluster.Tests;

/// <summary>
/// <c>hps eval --cluster</c> and <c>hps serve --cluster</c>: the same pipelines as with a local model, the scores
/// coming from the fixture's workers through <see cref="ClusterScorer"/>. Compared with local runs of the same tiny
/// model, bf16, batch size 1 on both sides, with tolerance 0.
/// </summary>
public sealed partial class ClusterTests
{
    [Fact]
    public async Task Eval_on_the_cluster_equals_local_eval_in_accuracy_and_per_image_scores()
    {
        var data = EvalDataset("eval");
        var localReport = cluster.Dir.File("eval-local");
        var clusterReport = cluster.Dir.File("eval-cluster");
        var localCache = cluster.Dir.File("eval-local.sqlite");
        var clusterCache = cluster.Dir.File("eval-cluster.sqlite");

        var (localCode, localOut) = await cluster.HpsAsync(ClientTimeout, "eval", "--model", cluster.ModelDir, "--batch-size", "1",
            "--data", data, "--cache", localCache, "--bootstrap", "50", "--report", localReport);
        Assert.True(localCode == 0, localOut);
        var (code, output) = await cluster.HpsAsync(ClientTimeout, "eval", "--cluster", cluster.Cluster,
            "--data", data, "--cache", clusterCache, "--bootstrap", "50", "--report", clusterReport);
        Assert.True(code == 0, output);

        var local = JsonDocument.Parse(File.ReadAllText(Path.Combine(localReport, "result.json"))).RootElement;
        var remote = JsonDocument.Parse(File.ReadAllText(Path.Combine(clusterReport, "result.json"))).RootElement;
        foreach (var field in new[] { "pairs", "correct", "predicted_ties" })
        {
            Assert.Equal(local.GetProperty(field).GetInt64(), remote.GetProperty(field).GetInt64());
        }

        Assert.Equal(local.GetProperty("accuracy").GetDouble(), remote.GetProperty("accuracy").GetDouble());
        Assert.Equal(6, remote.GetProperty("pairs").GetInt64());

        // The protocol names the cluster and the workers' model fingerprint.
        var fingerprint = (await cluster.WorkersAsync()).Select(w => w.Worker.Fingerprint).Distinct().Single();
        var model = remote.GetProperty("protocol").GetProperty("model").GetString()!;
        Assert.Contains(fingerprint, model, StringComparison.Ordinal);
        Assert.Contains(cluster.Cluster, model, StringComparison.Ordinal);

        // Per image: the score caches hold the same keys (same fingerprint) and the same numbers.
        var expected = ReadCache(localCache);
        var actual = ReadCache(clusterCache);
        Assert.Equal(4, expected.Count);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, score) in expected)
        {
            Assert.Equal(score.Mu, actual[key].Mu);
            Assert.Equal(score.LogSigma, actual[key].LogSigma);
        }

        // The short jobs are deleted once collected: none is left in the registry.
        var jobs = await cluster.Connection.Grains.GetGrain<Grains.IClusterRegistryGrain>(0).JobsAsync();
        Assert.DoesNotContain(jobs, j => j.StartsWith("eval-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Serve_on_the_cluster_answers_with_the_local_scores()
    {
        int port = ChildProcess.FreePort();
        var url = $"http://127.0.0.1:{port}";
        using var gateway = cluster.StartHps("serve", "--cluster", cluster.Cluster, "--urls", url);
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        await WaitReadyAsync(http, gateway);

        var names = new[] { "chelsea.png", "coins.png", "rocket.jpg" };
        var items = names.Select((n, i) => (Prompt: $"a photo number {i}", Path: TestPaths.Image(n))).ToList();
        var body = new JsonObject
        {
            ["items"] = new JsonArray([.. items.Select(i => (JsonNode)new JsonObject { ["prompt"] = i.Prompt, ["image"] = Convert.ToBase64String(File.ReadAllBytes(i.Path)) })]),
        };
        using var response = await http.PostAsync("/v1/score", new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        var results = JsonDocument.Parse(text).RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(3, results.Count);

        var manifest = cluster.Manifest("serve.jsonl", 3, i => items[i]);
        var expected = await cluster.SingleMachineAsync(manifest);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(expected[i].Score!.Value.Mu, results[i].GetProperty("mu").GetDouble());
            Assert.Equal(expected[i].Score!.Value.LogSigma, results[i].GetProperty("log_sigma").GetDouble());
        }

        // A bad image is that item's error, and the request is still answered (200), as with a local model.
        var bad = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["prompt"] = "x", ["image"] = Convert.ToBase64String("not an image"u8.ToArray()) }) };
        using var badResponse = await http.PostAsync("/v1/score", new StringContent(bad.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        var badText = await badResponse.Content.ReadAsStringAsync();
        Assert.True(badResponse.StatusCode is System.Net.HttpStatusCode.OK or System.Net.HttpStatusCode.BadRequest, badText);
        Assert.Contains("error", badText, StringComparison.Ordinal);

        // Latency of one-item requests through the gateway (printed for the record; timings are never asserted).
        var one = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["prompt"] = "a cat", ["image"] = Convert.ToBase64String(File.ReadAllBytes(TestPaths.Image("chelsea.png"))) }) }.ToJsonString();
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            using var r = await http.PostAsync("/v1/score", new StringContent(one, System.Text.Encoding.UTF8, "application/json"));
            Assert.True(r.IsSuccessStatusCode);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }

        Console.WriteLine("serve --cluster, one-item requests (ms): " + string.Join(", ", times.Select(t => t.ToString("F0", CultureInfo.InvariantCulture))));
    }

    private static async Task WaitReadyAsync(HttpClient http, ChildProcess gateway)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                using var r = await http.GetAsync("/readyz");
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            Assert.False(gateway.Process.HasExited, "the gateway exited: " + gateway.Output);
            Assert.True(DateTime.UtcNow < deadline, "the gateway did not become ready: " + gateway.Output);
            await Task.Delay(300);
        }
    }

    /// <summary>Six pairs over four sample photos (HPDv3's test.json layout), images beside the dataset.</summary>
    private string EvalDataset(string name)
    {
        var dir = cluster.Dir.File(name);
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        var photos = new[] { "chelsea.png", "coins.png", "rocket.jpg", "astronaut.png" };
        foreach (var p in photos)
        {
            File.Copy(TestPaths.Image(p), Path.Combine(dir, "images", p), overwrite: true);
        }

        var pairs = new[] { (0, 1), (2, 3), (1, 2), (3, 0), (0, 2), (1, 3) }
            .Select(p => new { prompt = "a photo", path1 = "images/" + photos[p.Item1], path2 = "images/" + photos[p.Item2], model1 = "a", model2 = "b" });
        var data = Path.Combine(dir, "test.json");
        File.WriteAllText(data, JsonSerializer.Serialize(pairs));
        return data;
    }

    private static Dictionary<string, Score> ReadCache(string path)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT model, image_sha256, prompt_sha256, preprocess, mu, log_sigma FROM scores";
        using var reader = cmd.ExecuteReader();
        var scores = new Dictionary<string, Score>(StringComparer.Ordinal);
        while (reader.Read())
        {
            scores[$"{reader.GetString(0)}|{reader.GetString(1)}|{reader.GetString(2)}|{reader.GetString(3)}"] = new Score(reader.GetDouble(4), reader.GetDouble(5));
        }

        return scores;
    }
}
