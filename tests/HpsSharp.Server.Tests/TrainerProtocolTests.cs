using System.Collections;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Server.Protocols;
using HpsSharp.Testing;
using Razorvine.Pickle;
using Xunit;

namespace HpsSharp.Server.Tests;

/// <summary>
/// Each trainer wire format, fed the exact bytes its client sends (tests/fixtures/protocols, made once by
/// tools/fixtures/make_protocol_fixtures.py with the clients' own calls), and its answer read as the client reads it.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TrainerProtocolTests
{
    private static byte[] Fixture(string name) =>
        Convert.FromBase64String(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "protocols", name + ".b64")).Trim());

    /// <summary>The JPEGs and prompts inside the flow_grpo fixture (read with a general unpickler: it is our own file).</summary>
    private static (byte[][] Images, string[] Prompts) FlowGrpoContent()
    {
        using var u = new Unpickler();
        var d = (IDictionary)u.loads(Fixture("flowgrpo_request"));
        return ([.. ((IList)d["images"]!).Cast<byte[]>()], [.. ((IList)d["prompts"]!).Cast<string>()]);
    }

    private static async Task<(int Status, byte[] Body, string Text)> PostBytesAsync(ServiceHost host, string path, byte[] body, string? contentType = null)
    {
        using var content = new ByteArrayContent(body);
        if (contentType is not null)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        }

        var r = await host.Client.PostAsync(path, content);
        var bytes = await r.Content.ReadAsByteArrayAsync();
        return ((int)r.StatusCode, bytes, Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task FlowGrpoPickleGetsOutputsInOrder()
    {
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer);
        var (images, prompts) = FlowGrpoContent();

        var (status, body, text) = await PostBytesAsync(host, "/", Fixture("flowgrpo_request"));

        Assert.True(status == 200, text);
        using var u = new Unpickler();
        var answer = (IDictionary)u.loads(body);
        var outputs = ((IList)answer["outputs"]!).Cast<double>().ToArray();
        Assert.Equal(2, outputs.Length);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(TestImages.FakeMu(prompts[i], images[i]), outputs[i], 12);
            Assert.Equal(outputs[i], ((IList)answer["scores"]!).Cast<double>().ElementAt(i));
            Assert.Equal(1.0, ((IList)answer["sigma"]!).Cast<double>().ElementAt(i));
            Assert.Null(((IList)answer["errors"]!)[i]);
        }

        Assert.Equal("mu", answer["reward"]);
        Assert.Equal(2, scorer.Items);
    }

    [Fact]
    public async Task FlowGrpoBareListWithDivisorAsTheHpsv3RewardServerAppAnswers()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var (images, prompts) = FlowGrpoContent();

        var (status, body, text) = await PostBytesAsync(host, "/?format=list&divisor=15&reward=mu_minus_k_sigma&k=2", Fixture("flowgrpo_request"));

        Assert.True(status == 200, text);
        using var u = new Unpickler();
        var list = ((IList)u.loads(body)).Cast<double>().ToArray();
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal((TestImages.FakeMu(prompts[i], images[i]) - 2.0) / 15, list[i], 12); // σ = 1 from the fake scorer
        }
    }

    [Fact]
    public async Task NumpyPromptsAreRefusedBeforeAnyObjectIsBuilt()
    {
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer);

        var (status, _, text) = await PostBytesAsync(host, "/", Fixture("flowgrpo_numpy_prompts"));

        Assert.Equal(400, status);
        var problem = JsonNode.Parse(text)!;
        Assert.Equal("pickle refused", (string)problem["title"]!);
        Assert.Contains("STACK_GLOBAL (numpy.core.multiarray._reconstruct)", (string)problem["detail"]!, StringComparison.Ordinal);
        Assert.Equal(0, scorer.Items);
    }

    [Fact]
    public async Task HostilePickleIsRefusedAndNothingRuns()
    {
        const string marker = "/tmp/hps-pickle-pwned";
        File.Delete(marker);
        var scorer = new FakeScorer();
        await using var host = await ServiceHost.StartAsync(scorer);

        var (status, _, text) = await PostBytesAsync(host, "/", Fixture("pickle_os_system"));

        Assert.Equal(400, status);
        Assert.Contains("posix.system", text, StringComparison.Ordinal);
        Assert.False(File.Exists(marker));
        Assert.Equal(0, scorer.Items);
    }

    [Fact]
    public async Task FlowGrpoBadShapesAre400WithTheReason()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var cases = new (object Value, string Expect)[]
        {
            (new ArrayList { 1, 2 }, "must hold a dict"),
            (new Hashtable { ["images"] = new ArrayList { new byte[] { 1 } } }, "prompts"),
            (new Hashtable { ["images"] = new ArrayList { new byte[] { 1 } }, ["prompts"] = new ArrayList { "a", "b" } }, "1 images but 2 prompts"),
        };
        foreach (var (value, expect) in cases)
        {
            var (status, _, text) = await PostBytesAsync(host, "/", PyPickle.Dumps(value));
            Assert.Equal(400, status);
            Assert.Contains(expect, text, StringComparison.Ordinal);
        }

        var (s2, _, t2) = await PostBytesAsync(host, "/", [0x80, 0x04, 0x95]);
        Assert.Equal(400, s2);
        Assert.Contains("truncated", t2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FlowGrpoCorruptImageIsNaNForThatImageOnly()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var (images, prompts) = FlowGrpoContent();
        var body = PyPickle.Dumps(new Hashtable { ["images"] = new ArrayList { images[0], "not jpeg"u8.ToArray() }, ["prompts"] = new ArrayList { prompts[0], prompts[1] } });

        var (status, bytes, text) = await PostBytesAsync(host, "/", body);

        Assert.True(status == 200, text);
        using var u = new Unpickler();
        var answer = (IDictionary)u.loads(bytes);
        var outputs = ((IList)answer["outputs"]!).Cast<double>().ToArray();
        Assert.Equal(TestImages.FakeMu(prompts[0], images[0]), outputs[0], 12);
        Assert.True(double.IsNaN(outputs[1]));
        Assert.Contains("images[1]", (string)((IList)answer["errors"]!)[1]!, StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task FlowGrpoClientCodeReadsTheAnswer()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var (images, prompts) = FlowGrpoContent();
        var fixture = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "protocols", "flowgrpo_request.b64");

        // The client's read path, as flow_grpo's remote rewards write it: post the pickled dict, pickle.loads the
        // body, take ["outputs"]. urllib stands in for requests (not installed here); the bytes on the wire are the same.
        string script = $$"""
            import base64, json, pickle, urllib.request
            data_bytes = base64.b64decode(open({{Py(fixture)}}).read())
            req = urllib.request.Request({{Py(host.BaseAddress + "")}}, data=data_bytes, method="POST")
            response_content = urllib.request.urlopen(req, timeout=60).read()
            response_data = pickle.loads(response_content)
            all_scores = []
            all_scores += response_data["outputs"]
            bare = pickle.loads(urllib.request.urlopen(urllib.request.Request({{Py(host.BaseAddress + "?format=list")}}, data=data_bytes, method="POST"), timeout=60).read())
            print(json.dumps({"outputs": all_scores, "bare": [float(x) for x in bare], "scores": response_data["scores"]}))
            """;
        var output = await RunPythonAsync(script);
        var json = JsonNode.Parse(output)!;
        for (int i = 0; i < 2; i++)
        {
            double mu = TestImages.FakeMu(prompts[i], images[i]);
            Assert.Equal(mu, (double)json["outputs"]![i]!, 12);
            Assert.Equal(mu, (double)json["bare"]![i]!, 12);
            Assert.Equal(mu, (double)json["scores"]![i]!, 12);
        }
    }

    private static string Py(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    internal static async Task<string> RunPythonAsync(string script)
    {
        var psi = new ProcessStartInfo(PythonClientTests.Python, ["-c", script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        Assert.True(process.ExitCode == 0, await stderr);
        return await stdout;
    }

    [Fact]
    public async Task UniRlScoreAnswersResultsAndErrorsPerRequest()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var request = JsonNode.Parse(Fixture("unirl_request"))!;

        var (status, _, text) = await PostBytesAsync(host, "/score", Fixture("unirl_request"), "application/json");

        Assert.True(status == 200, text);
        var body = JsonNode.Parse(text)!;

        // As UniRL's client reads it: results[i][reward][sub_metric] -> float, errors[i][reward] -> str.
        for (int i = 0; i < 2; i++)
        {
            var turn = request["requests"]![i]!["history"]![0]!;
            double mu = TestImages.FakeMu((string)turn["text"]!, Convert.FromBase64String((string)turn["image_b64"]!));
            Assert.Equal(mu, (double)body["results"]![i]!["hpsv3"]!["hpsv3"]!, 12);
            Assert.Null(body["errors"]![i]!["hpsv3"]);
            Assert.Equal($"r-{i}", (string)body["identities"]![i]!["request_id"]!);
        }

        Assert.Empty(body["errors"]![0]!.AsObject());
        Assert.Contains("unknown reward 'clip'", (string)body["errors"]![1]!["clip"]!, StringComparison.Ordinal);
        Assert.Null(body["results"]![1]!["clip"]);
        Assert.Equal("1", (string)body["protocol_version"]!);
    }

    [Fact]
    public async Task UniRlBadTurnIsAnErrorForThatRequestOnly()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var good = Convert.ToBase64String(TestImages.Png(8, 8, 3));
        var body = new JsonObject
        {
            ["requests"] = new JsonArray(
                new JsonObject { ["history"] = new JsonArray(new JsonObject { ["text"] = "a" }), ["required_rewards"] = new JsonArray("hpsv3") },
                new JsonObject { ["history"] = new JsonArray(new JsonObject { ["text"] = "a", ["image_b64"] = "%%%" }), ["required_rewards"] = new JsonArray("hpsv3") },
                new JsonObject { ["history"] = new JsonArray(new JsonObject { ["text"] = "a", ["image_b64"] = good }), ["required_rewards"] = new JsonArray("hpsv3") }),
        };
        var (status, answer, _) = await host.PostJsonAsync("/score", body.ToJsonString());

        Assert.Equal(200, status);
        Assert.Contains("image_b64", (string)answer!["errors"]![0]!["hpsv3"]!, StringComparison.Ordinal);
        Assert.Contains("base64", (string)answer["errors"]![1]!["hpsv3"]!, StringComparison.Ordinal);
        Assert.Equal(TestImages.FakeMu("a", TestImages.Png(8, 8, 3)), (double)answer["results"]![2]!["hpsv3"]!["hpsv3"]!, 12);
    }

    [Fact]
    public async Task CosmosEnqueueThenPullUntilReady()
    {
        var scorer = new FakeScorer { Delay = TimeSpan.FromMilliseconds(300) };
        await using var host = await ServiceHost.StartAsync(scorer);
        var raw = Fixture("cosmos_request");

        var (status, _, text) = await PostBytesAsync(host, "/api/reward/enqueue", raw, "application/octet-stream");
        Assert.True(status == 200, text);
        string uuid = (string)JsonNode.Parse(text)!["uuid"]!;

        // As image_client.py polls: form fields uuid and type, 400 until ready, then 200 with the scores.
        JsonNode? result = null;
        int notReady = 0;
        for (int attempt = 0; attempt < 200 && result is null; attempt++)
        {
            using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["uuid"] = uuid, ["type"] = "hpsv3" });
            var r = await host.Client.PostAsync("/api/reward/pull", form);
            var body = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            if ((int)r.StatusCode == 200)
            {
                result = body;
            }
            else
            {
                Assert.Equal(400, (int)r.StatusCode);
                Assert.Equal($"Not found scores for {uuid}", (string)body["message"]!);
                notReady++;
                await Task.Delay(50);
            }
        }

        Assert.NotNull(result);
        Assert.True(notReady > 0, "the first pull should have come before the scores were ready");
        Assert.Equal("hpsv3", (string)result["type"]!);
        Assert.Equal("[2,16,24,3]", result["input_info"]!["shape"]!.ToJsonString());
        Assert.Equal("torch.uint8", (string)result["input_info"]!["dtype"]!);

        // The fixture's pixels and prompts, as the client built them.
        int nl = Array.IndexOf(raw, (byte)'\n');
        var header = JsonNode.Parse(raw.AsSpan(0, nl))!;
        var npy = raw.AsSpan(nl + 1).ToArray();
        int dataStart = npy.Length - (2 * 16 * 24 * 3);
        for (int i = 0; i < 2; i++)
        {
            var rgb = npy.AsSpan(dataStart + (i * 16 * 24 * 3), 16 * 24 * 3).ToArray();
            double expected = FakeScorer.HashScore(new ScoreRequest((string)header["prompts"]![i]!, ImageInput.FromRgb(rgb, 24, 16))).Mu;
            Assert.Equal(expected, (double)result["scores"]!["hpsv3"]![i]!, 12);
        }
    }

    [Fact]
    public async Task CosmosRefusesLatentsAndBadTensors()
    {
        await using var host = await ServiceHost.StartAsync(new FakeScorer());
        var raw = Fixture("cosmos_request");
        int nl = Array.IndexOf(raw, (byte)'\n');
        var npy = raw[(nl + 1)..];

        byte[] With(string header, byte[] tail) => [.. Encoding.UTF8.GetBytes(header), (byte)'\n', .. tail];
        var cases = new (byte[] Body, string Expect)[]
        {
            (With("{\"media_type\": \"video\", \"prompts\": [\"a\"], \"reward_fn\": {\"hpsv3\": 1}}", npy), "video latents"),
            (With("{\"media_type\": \"image\", \"prompts\": [\"a\"], \"reward_fn\": {\"hpsv3\": 1}}", npy), "prompts length (1) must match batch size (2)"),
            (With("{\"media_type\": \"image\", \"prompts\": [\"a\", \"b\"], \"reward_fn\": {\"hpsv3\": 1}}", npy[..^5]), "needs 2304"),
            (With("{\"media_type\": \"image\", \"prompts\": [\"a\", \"b\"], \"reward_fn\": {\"hpsv3\": 1}}", "not npy"u8.ToArray()), "not an NPY array"),
            ("no newline"u8.ToArray(), "delimiter"),
        };
        foreach (var (body, expect) in cases)
        {
            var (status, _, text) = await PostBytesAsync(host, "/api/reward/enqueue", body);
            Assert.Equal(400, status);
            Assert.Contains(expect, text, StringComparison.Ordinal);
        }

        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["uuid"] = "nope", ["type"] = "hpsv3" });
        var pull = await host.Client.PostAsync("/api/reward/pull", form);
        Assert.Equal(400, (int)pull.StatusCode);
    }
}
