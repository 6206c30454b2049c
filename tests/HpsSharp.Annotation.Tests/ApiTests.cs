using Microsoft.Extensions.Hosting;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Annotation.Tests;

[Trait("Category", "Integration")]
public sealed class ApiTests
{
    [Fact]
    public async Task NextAndJudgementFollowTheContractAndStoreBeforeAnswering()
    {
        using var ws = new Workspace(pairs: 4, gold: 0);
        await using var host = await AppHost.StartAsync(ws.Options(withGold: false));

        var next = (await host.NextAsync("alice"))!;
        Assert.Equal(0, (long)next["pair_id"]!);
        Assert.Equal(ws.PairRecords[0].Prompt, (string)next["prompt"]!);
        var shown = new[] { (string)next["left"]!, (string)next["right"]! };
        Assert.Equal(new[] { "/images/" + ws.PairRecords[0].Path1, "/images/" + ws.PairRecords[0].Path2 }.Order(), shown.Order());
        Assert.Equal((0, 4), ((int)next["done"]!, (int)next["total"]!));

        using var ok = await host.JudgeAsync(0, "alice", "left", 812);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var stored = JsonNode.Parse(await ok.Content.ReadAsStringAsync())!;
        Assert.True((bool)stored["stored"]!);
        Assert.Equal(1, (int)stored["done"]!);

        // 200 came after the commit: a second connection sees the row at once, with the order that was shown.
        using (var reader = AnnotationStore.Open(ws.Db, create: false))
        {
            var j = Assert.Single(reader.Judgements());
            bool leftIsPath1 = shown[0] == "/images/" + ws.PairRecords[0].Path1;
            Assert.Equal((0L, "alice", "left", leftIsPath1, leftIsPath1 ? Vote.Path1 : Vote.Path2, 812L), (j.PairId, j.Annotator, j.Choice, j.LeftIsPath1, j.Vote, j.Ms));
        }

        using var again = await host.JudgeAsync(0, "alice", "right");
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("already judged", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The images: the page's URLs work, the subfolder keeps its path; nothing else under the root is served.
        foreach (var url in shown)
        {
            using var image = await host.Client.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, image.StatusCode);
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(ws.Images, url["/images/".Length..])), await image.Content.ReadAsByteArrayAsync());
        }

        File.WriteAllText(Path.Combine(ws.Images, "secret.txt"), "not an image of any pair");
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/images/secret.txt")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/images/../pairs.json")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/images/%2e%2e/pairs.json")).StatusCode);

        var urls = new List<string>();
        var first = (await host.NextAsync("bob"))!;
        Assert.Equal(1, (long)first["pair_id"]!); // pair 0 has alice's judgement: fewest judgements first
        while (await host.NextAsync("bob") is { } n)
        {
            urls.Add((string)n["left"]!);
            urls.Add((string)n["right"]!);
            Assert.Equal(HttpStatusCode.OK, (await host.JudgeAsync((long)n["pair_id"]!, "bob", urls.Count == 8 ? "skip" : "tie")).StatusCode);
        }

        // The image in a subfolder keeps its path relative to the root in the URL.
        Assert.Contains("/images/sub/rocket.jpg", urls);
        Assert.Equal(8, urls.Count);
        using var done = await host.Client.GetAsync("/api/next?annotator=bob");
        Assert.Equal(HttpStatusCode.NoContent, done.StatusCode);

        var progress = JsonNode.Parse(await host.Client.GetStringAsync("/api/progress?annotator=bob"))!;
        Assert.Equal((4, 4), ((int)progress["done"]!, (int)progress["total"]!));
    }

    [Fact]
    public async Task ConcurrentAnnotatorsOverHttpGetEveryPairOnceAndEveryAnswerIsStored()
    {
        using var ws = new Workspace(pairs: 10, gold: 2);
        await using var host = await AppHost.StartAsync(ws.Options(goldRate: 0.2));
        var names = Enumerable.Range(0, 5).Select(i => $"annotator {i}").ToList();
        var answered = await Task.WhenAll(names.Select(async name =>
        {
            var ids = new List<long>();
            while (await host.NextAsync(name) is { } next)
            {
                long id = (long)next["pair_id"]!;
                using var r = await host.JudgeAsync(id, name, ids.Count % 2 == 0 ? "left" : "right");
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                ids.Add(id);
            }

            return (name, ids);
        }));

        using var reader = AnnotationStore.Open(ws.Db, create: false);
        var stored = reader.Judgements();
        foreach (var (name, ids) in answered)
        {
            Assert.Equal(ids.Count, ids.Distinct().Count());
            Assert.Equal(10, ids.Count(id => id >= 0));
            Assert.Equal(2, ids.Count(id => id < 0)); // 12 answers at rate 0.2: gold at the 5th and 10th
            Assert.Equal(ids.Order(), stored.Where(j => j.Annotator == name).Select(j => j.PairId).Order());
        }
    }

    [Fact]
    public async Task BadRequestsAreClear4xxAndNeverStored()
    {
        using var ws = new Workspace(pairs: 2, gold: 0);
        await using var host = await AppHost.StartAsync(ws.Options(withGold: false));
        await host.NextAsync("alice");

        async Task Expect(HttpStatusCode status, string body, string message)
        {
            using var r = await host.Client.PostAsync("/api/judgement", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(status, r.StatusCode);
            Assert.Contains(message, (string)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["detail"]!, StringComparison.Ordinal);
        }

        await Expect(HttpStatusCode.BadRequest, "{", "invalid JSON");
        await Expect(HttpStatusCode.BadRequest, "[1]", "invalid JSON");
        await Expect(HttpStatusCode.BadRequest, """{"annotator": "alice", "choice": "left", "ms": 1}""", "\"pair_id\" is missing");
        await Expect(HttpStatusCode.BadRequest, """{"pair_id": 0, "annotator": "alice", "choice": "left"}""", "is missing");
        await Expect(HttpStatusCode.BadRequest, """{"pair_id": 0, "annotator": "alice", "choice": "up", "ms": 1}""", "choice must be");
        await Expect(HttpStatusCode.BadRequest, """{"pair_id": 0, "annotator": "", "choice": "left", "ms": 1}""", "annotator must be");
        await Expect(HttpStatusCode.BadRequest, """{"pair_id": 0, "annotator": "alice", "choice": "left", "ms": -4}""", "must not be negative");
        await Expect(HttpStatusCode.BadRequest, """{"pair_id": "zero", "annotator": "alice", "choice": "left", "ms": 1}""", "invalid JSON");
        await Expect(HttpStatusCode.NotFound, """{"pair_id": 7, "annotator": "alice", "choice": "left", "ms": 1}""", "no pair has id 7");
        await Expect(HttpStatusCode.Conflict, """{"pair_id": 1, "annotator": "alice", "choice": "left", "ms": 1}""", "was not shown");
        await Expect(HttpStatusCode.Conflict, """{"pair_id": 0, "annotator": "carol", "choice": "left", "ms": 1}""", "was not shown");
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Client.GetAsync("/api/next")).StatusCode);

        using var big = await host.Client.PostAsync("/api/judgement", new StringContent(new string(' ', 100_000) + "{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);

        using var reader = AnnotationStore.Open(ws.Db, create: false);
        Assert.Empty(reader.Judgements());
    }

    [Fact]
    public async Task ThePageAndItsAssetsAreServedFromTheAssembly()
    {
        using var ws = new Workspace(pairs: 1, gold: 0);
        await using var host = await AppHost.StartAsync(ws.Options(withGold: false));
        using var page = await host.Client.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<label for=\"name\">Your name</label>", html, StringComparison.Ordinal);
        Assert.Contains("src=\"/app.js\"", html, StringComparison.Ordinal);
        Assert.Contains("ArrowLeft", await host.Client.GetStringAsync("/app.js"), StringComparison.Ordinal);
        Assert.Contains(":focus-visible", await host.Client.GetStringAsync("/app.css"), StringComparison.Ordinal);
        Assert.Equal("ok", await host.Client.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task WithAModelTheAppScoresInTheBackgroundAndServesTheLeastCertainPairFirst()
    {
        using var ws = new Workspace(pairs: 6, gold: 0);
        var mu = new Dictionary<string, double> { ["coins.png"] = 3, ["text.png"] = 0, ["camera.png"] = 0.2, ["rocket.jpg"] = -3, ["chelsea.png"] = 1, ["retina.jpg"] = 5 };
        var options = ws.Options(withGold: false);
        var withModel = new AnnotationAppOptions
        {
            PairsFile = options.PairsFile,
            ImagesRoot = options.ImagesRoot,
            Database = options.Database,
            Urls = options.Urls,
            ScoreCachePath = ws.File("cache.sqlite"),
            LoadScorer = _ => Task.FromResult<IScorer>(new FakeScorer(r => new Score(mu[Path.GetFileName(r.Image.Name)], 0))),
        };
        await using var host = await AppHost.StartAsync(withModel);
        await AnnotationApp.ModelScoring(host.App).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Null(AnnotationApp.ModelError(host.App));

        // Pair 1 is text (0) vs camera (0.2): the closest call.
        Assert.Equal(1, (long)(await host.NextAsync("a"))!["pair_id"]!);
        var progress = JsonNode.Parse(await host.Client.GetStringAsync("/api/progress?annotator=a"))!;
        Assert.Equal((true, 6), ((bool)progress["model"]!, (int)progress["scored"]!));
    }

    [Fact]
    public async Task AModelThatCannotLoadStopsTheAppWithTheReason()
    {
        using var ws = new Workspace(pairs: 2, gold: 0);
        var options = ws.Options(withGold: false);
        var broken = new AnnotationAppOptions
        {
            PairsFile = options.PairsFile,
            ImagesRoot = options.ImagesRoot,
            Database = options.Database,
            Urls = options.Urls,
            LoadScorer = _ => throw new HpsSharp.Core.UserInputException("--model", "no weights found"),
        };
        await using var host = await AppHost.StartAsync(broken);
        await host.App.WaitForShutdownAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("no weights found", AnnotationApp.ModelError(host.App)!.Message, StringComparison.Ordinal);
    }
}
