using HpsSharp.Core;
using HpsSharp.Core.Data;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Microsoft.Data.Sqlite;
using Xunit;

namespace HpsSharp.Annotation.Tests;

[Trait("Category", "Unit")]
public sealed class StoreAndQueueTests
{
    [Fact]
    public void AJudgementIsStoredInTheOrderItWasShownAndSurvivesReopening()
    {
        using var ws = new Workspace();
        using (var store = ws.OpenStore())
        {
            bool leftIsPath1 = store.ShowOrder(2, "ann", () => false);
            Assert.False(leftIsPath1);

            // Shown again (reload, second tab): the stored order, not a new draw.
            Assert.False(store.ShowOrder(2, "ann", () => true));
            var j = store.Record(2, "ann", "left", 1234);
            Assert.Equal(Vote.Path2, j.Vote);
            Assert.Throws<DuplicateJudgementException>(() => store.Record(2, "ann", "right", 5));
            Assert.Equal(JudgementRejection.NotShown, Assert.Throws<JudgementRejectedException>(() => store.Record(3, "ann", "left", 5)).Rejection);
        }

        using var reopened = AnnotationStore.Open(ws.Db, create: false);
        var stored = Assert.Single(reopened.Judgements());
        Assert.Equal((2L, "ann", "left", false, Vote.Path2, 1234L), (stored.PairId, stored.Annotator, stored.Choice, stored.LeftIsPath1, stored.Vote, stored.Ms));
        Assert.Equal(6 + 2, reopened.Pairs().Count);
        Assert.Equal(-1, reopened.Pairs()[6].Id);
        Assert.Equal(ws.GoldRecords[0].Path1, reopened.Pairs()[6].Path1);
    }

    [Theory]
    [InlineData("left", true, Vote.Path1)]
    [InlineData("left", false, Vote.Path2)]
    [InlineData("right", true, Vote.Path2)]
    [InlineData("right", false, Vote.Path1)]
    [InlineData("tie", false, Vote.Tie)]
    [InlineData("skip", true, Vote.Skip)]
    public void ChoicesMapToVotesThroughTheShownOrder(string choice, bool leftIsPath1, Vote expected) =>
        Assert.Equal(expected, AnnotationStore.VoteOf(choice, leftIsPath1));

    [Fact]
    public void TheDatabaseRefusesDuplicatesEvenWithoutTheQueue()
    {
        using var ws = new Workspace();
        using (var store = ws.OpenStore())
        {
            store.ShowOrder(0, "a", () => true);
            store.Record(0, "a", "left", 1);
        }

        // A second writer that goes around the API hits the UNIQUE (pair, annotator) constraint of the table itself.
        using var c = new SqliteConnection($"Data Source={ws.Db}");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT INTO judgements (pair_id, annotator, choice, left, vote, ms, created_utc) VALUES (0, 'a', 'right', 'path1', 'path2', 1, 'x')";
        var ex = Assert.Throws<SqliteException>(() => cmd.ExecuteNonQuery());
        Assert.Contains("UNIQUE", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AChangedPairsFileIsRefusedAndAnAppendedOneAccepted()
    {
        using var ws = new Workspace(pairs: 3);
        using (ws.OpenStore())
        {
        }

        var changed = PairFile.Load(ws.PairsFile, ws.Images, gold: false).Select((p, i) => i == 1 ? p with { Prompt = "another prompt" } : p).ToList();
        using var store = AnnotationStore.Open(ws.Db, create: false);
        var ex = Assert.Throws<UserInputException>(() => store.AddPairs(changed, "pairs.json"));
        Assert.Contains("pair 1 differs", ex.Message, StringComparison.Ordinal);

        var appended = PairFile.Load(ws.PairsFile, ws.Images, gold: false).Append(new AnnotationPair(3, "new", ws.PairRecords[0].Path1, ws.PairRecords[0].Path2, null, null)).ToList();
        store.AddPairs(appended, "pairs.json");
        Assert.Equal(4 + 2, store.Pairs().Count);
    }

    [Fact]
    public void BadFilesAreClearErrors()
    {
        using var ws = new Workspace();
        File.WriteAllText(ws.File("not-db.sqlite"), "hello, this is not SQLite at all, just text.......................................................");
        Assert.Throws<IOException>(() => AnnotationStore.Open(ws.File("not-db.sqlite"), create: false));
        Assert.Throws<FileNotFoundException>(() => AnnotationStore.Open(ws.File("missing.sqlite"), create: false));

        File.WriteAllText(ws.File("escape.json"), """[{"prompt": "p", "path1": "../outside.png", "path2": "coins.png"}]""");
        var escape = Assert.Throws<UserInputException>(() => PairFile.Load(ws.File("escape.json"), ws.Images, gold: false));
        Assert.Contains("outside the image root", escape.Message, StringComparison.Ordinal);

        File.WriteAllText(ws.File("missing.json"), """[{"prompt": "p", "path1": "nope.png", "path2": "coins.png"}]""");
        var missing = Assert.Throws<UserInputException>(() => PairFile.Load(ws.File("missing.json"), ws.Images, gold: false));
        Assert.Contains("'nope.png' not found", missing.Message, StringComparison.Ordinal);

        File.WriteAllText(ws.File("tiegold.json"), """[{"prompt": "p", "path1": "text.png", "path2": "coins.png", "choice_dist": [2, 2]}]""");
        Assert.Throws<DatasetFormatException>(() => PairFile.Load(ws.File("tiegold.json"), ws.Images, gold: true));

        File.WriteAllText(ws.File("empty.json"), "[]");
        Assert.Throws<UserInputException>(() => PairFile.Load(ws.File("empty.json"), ws.Images, gold: false));
    }

    [Fact]
    public void JsonlPairsAndGoldLabelsAreOrientedSoThatPath1IsTheAnswer()
    {
        using var ws = new Workspace();
        File.WriteAllText(ws.File("gold.jsonl"), """
            {"prompt": "g0", "path1": "text.png", "path2": "coins.png", "label": 0}
            {"prompt": "g1", "path1": "text.png", "path2": "coins.png"}
            """);
        var gold = PairFile.Load(ws.File("gold.jsonl"), ws.Images, gold: true);
        Assert.Equal(("coins.png", "text.png", -1L), (gold[0].Path1, gold[0].Path2, gold[0].Id));
        Assert.Equal(("text.png", "coins.png", -2L), (gold[1].Path1, gold[1].Path2, gold[1].Id));

        // The content decides the format, not the extension.
        File.Copy(ws.File("gold.jsonl"), ws.File("gold-lines.json"));
        Assert.Equal(gold, PairFile.Load(ws.File("gold-lines.json"), ws.Images, gold: true));

        // Pairs to annotate keep the file's order whatever their label says.
        var pairs = PairFile.Load(ws.File("gold.jsonl"), ws.Images, gold: false);
        Assert.Equal(("text.png", "coins.png", 0L), (pairs[0].Path1, pairs[0].Path2, pairs[0].Id));
    }

    [Fact]
    public void WithoutAModelPairsGoRoundRobinByFewestJudgementsAndNeverTwiceToOneAnnotator()
    {
        using var ws = new Workspace(pairs: 4);
        using var store = ws.OpenStore(withGold: false);
        var queue = new AnnotationQueue(store, goldRate: 0);
        var seen = new Dictionary<string, List<long>> { ["a"] = [], ["b"] = [] };

        // a answers pair 0; b then gets the pair with fewest judgements (1), not 0.
        Answer(queue, "a", seen);
        Answer(queue, "b", seen);
        Assert.Equal([0L], seen["a"]);
        Assert.Equal([1L], seen["b"]);
        while (queue.Next("a") is not null)
        {
            Answer(queue, "a", seen);
        }

        while (queue.Next("b") is not null)
        {
            Answer(queue, "b", seen);
        }

        Assert.Equal([0L, 2L, 3L, 1L], seen["a"]);
        Assert.Equal([1L, 0L, 2L, 3L], seen["b"]);
        Assert.All(seen.Values, v => Assert.Equal(v.Count, v.Distinct().Count()));
        Assert.Equal(8, store.Judgements().Count);
        Assert.Equal(new AnnotatorProgress("a", 4, 4, 0), queue.Progress("a"));
    }

    [Fact]
    public void AReloadShowsTheSamePairUntilItIsAnswered()
    {
        using var ws = new Workspace(pairs: 3);
        using var store = ws.OpenStore(withGold: false);
        var queue = new AnnotationQueue(store, goldRate: 0, new Random(1));
        var first = queue.Next("a")!;
        var again = queue.Next("a")!;
        Assert.Equal((first.Pair.Id, first.LeftIsPath1), (again.Pair.Id, again.LeftIsPath1));
        queue.Submit(first.Pair.Id, "a", "skip", 10);
        Assert.NotEqual(first.Pair.Id, queue.Next("a")!.Pair.Id);
        Assert.Throws<DuplicateJudgementException>(() => queue.Submit(first.Pair.Id, "a", "left", 10));
        Assert.Equal(JudgementRejection.UnknownPair, Assert.Throws<JudgementRejectedException>(() => queue.Submit(99, "a", "left", 10)).Rejection);
        Assert.Equal(JudgementRejection.Invalid, Assert.Throws<JudgementRejectedException>(() => queue.Submit(1, "a", "up", 10)).Rejection);
        Assert.Equal(JudgementRejection.Invalid, Assert.Throws<JudgementRejectedException>(() => queue.Next(" ")).Rejection);
        Assert.Equal(JudgementRejection.Invalid, Assert.Throws<JudgementRejectedException>(() => queue.Submit(1, "a", "left", -1)).Rejection);
    }

    [Fact]
    public void APairOnAnotherAnnotatorsScreenCountsAsJudgedUntilItGoesStale()
    {
        using var ws = new Workspace(pairs: 3);
        using var store = ws.OpenStore(withGold: false);
        var time = new ManualTime();
        var queue = new AnnotationQueue(store, goldRate: 0, new Random(1), time);
        Assert.Equal(0, queue.Next("a")!.Pair.Id);
        Assert.Equal(1, queue.Next("b")!.Pair.Id);
        time.Advance(AnnotationQueue.InFlight + TimeSpan.FromSeconds(1));
        Assert.Equal(0, queue.Next("c")!.Pair.Id);
    }

    [Fact]
    public void WithModelProbabilitiesTheLeastCertainPairsComeFirstThenFewestJudgements()
    {
        using var ws = new Workspace(pairs: 6);
        using var store = ws.OpenStore(withGold: false);
        var queue = new AnnotationQueue(store, goldRate: 0);
        double[] p = [0.9, 0.52, 0.3, 0.48, 0.02, 0.7];
        for (int i = 0; i < p.Length - 1; i++)
        {
            queue.SetProbability(i, p[i]);
        }

        // Pair 5 is not scored yet: after every scored pair. 1 and 3 are equally uncertain (0.02 from 0.5).
        Assert.Equal([1L, 3L, 2L, 0L, 4L, 5L], queue.Order("x"));
        var n = queue.Next("a")!;
        Assert.Equal(1, n.Pair.Id);
        queue.Submit(1, "a", "left", 5);
        Assert.Equal([3L, 1L, 2L, 0L, 4L, 5L], queue.Order("x"));
        Assert.Equal([3L, 2L, 0L, 4L, 5L], queue.Order("a"));
    }

    [Fact]
    public async Task ModelUncertaintyScoresThePairsThroughTheScoreCacheAndOrdersThem()
    {
        using var ws = new Workspace(pairs: 6);
        using var store = ws.OpenStore(withGold: false);
        var queue = new AnnotationQueue(store, goldRate: 0);

        // μ per image file name, σ per file too: the expected order follows from Preference.ProbabilityAOverB.
        var mu = new Dictionary<string, double> { ["coins.png"] = 0.1, ["text.png"] = 2.0, ["camera.png"] = 1.9, ["rocket.jpg"] = -1, ["chelsea.png"] = 0.5, ["retina.jpg"] = 0.45 };
        using var scorer = new FakeScorer(r => new Score(mu[Path.GetFileName(r.Image.Name)], -0.5));
        using var cache = new HpsSharp.Evaluation.ScoreCache(ws.File("scores.sqlite"));
        var done = await ModelUncertainty.ScoreAsync(queue, scorer, cache, ws.Images);
        Assert.Equal(new UncertaintyProgress(6, 0, 6), done);

        var expected = ws.PairRecords.Select((r, i) => (Id: (long)i, P: Preference.ProbabilityAOverB(new Score(mu[Path.GetFileName(r.Path1)], -0.5), new Score(mu[Path.GetFileName(r.Path2)], -0.5))))
            .OrderBy(x => Math.Abs(x.P - 0.5)).ThenBy(x => x.Id).Select(x => x.Id).ToList();
        Assert.Equal(expected, queue.Order("a"));
        Assert.Equal(4, queue.Next("a")!.Pair.Id); // chelsea 0.5 vs retina 0.45: the closest call
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(Preference.ProbabilityAOverB(new Score(mu[Path.GetFileName(ws.PairRecords[i].Path1)], -0.5), new Score(mu[Path.GetFileName(ws.PairRecords[i].Path2)], -0.5)), queue.Probability(i), 12);
        }

        // A second queue over the same cache scores nothing again.
        int items = scorer.Items;
        var again = new AnnotationQueue(store, goldRate: 0);
        await ModelUncertainty.ScoreAsync(again, scorer, cache, ws.Images);
        Assert.Equal(items, scorer.Items);
        Assert.Equal(expected, again.Order("a"));
    }

    [Fact]
    public async Task APairWhoseImageCannotBeScoredIsServedAfterTheScoredOnes()
    {
        using var ws = new Workspace(pairs: 3);
        using var store = ws.OpenStore(withGold: false);
        var queue = new AnnotationQueue(store, goldRate: 0);
        using var scorer = new FakeScorer(r => Path.GetFileName(r.Image.Name) == "coins.png" ? throw new InvalidDataException("bad image") : new Score(0, 0));
        var done = await ModelUncertainty.ScoreAsync(queue, scorer, null, ws.Images);

        // Pair 0 is coins vs text; pair 2 is camera vs rocket; pair 1 is text vs camera. Coins appear only in pair 0.
        Assert.Equal(new UncertaintyProgress(2, 1, 3), done);
        Assert.Equal(0L, queue.Order("a")[^1]);
    }

    [Fact]
    public void GoldPairsAreMixedInAtTheGoldRate()
    {
        using var ws = new Workspace(pairs: 8, gold: 3);
        using var store = ws.OpenStore();
        var queue = new AnnotationQueue(store, goldRate: 0.25);
        var ids = new List<long>();
        while (queue.Next("a") is { } next)
        {
            ids.Add(next.Pair.Id);
            queue.Submit(next.Pair.Id, "a", "left", 1);
        }

        // Every 4th answer is gold; when the ordinary pairs are done the session ends (the third gold pair is not needed).
        Assert.Equal([0L, 1L, 2L, -1L, 3L, 4L, 5L, -2L, 6L, 7L], ids);
        Assert.Equal(new AnnotatorProgress("a", 8, 8, 2), queue.Progress("a"));
    }

    [Fact]
    public async Task ConcurrentAnnotatorsStoreEveryAnswerOnce()
    {
        using var ws = new Workspace(pairs: 12, gold: 2);
        using var store = ws.OpenStore();
        var queue = new AnnotationQueue(store, goldRate: 0.1);
        var annotators = Enumerable.Range(0, 6).Select(i => $"ann{i}").ToList();
        var counts = await Task.WhenAll(annotators.Select(a => Task.Run(() =>
        {
            int n = 0;
            while (queue.Next(a) is { } next)
            {
                queue.Submit(next.Pair.Id, a, (n % 3) switch { 0 => "left", 1 => "right", _ => "tie" }, n);
                n++;
            }

            return n;
        })));
        var all = store.Judgements();
        Assert.Equal(counts.Sum(), all.Count);
        Assert.All(annotators, a => Assert.Equal(12, all.Count(j => j.Annotator == a && j.PairId >= 0)));
        Assert.Equal(all.Count, all.Select(j => (j.PairId, j.Annotator)).Distinct().Count());
    }

    private static void Answer(AnnotationQueue queue, string annotator, Dictionary<string, List<long>> seen)
    {
        var next = queue.Next(annotator)!;
        seen[annotator].Add(next.Pair.Id);
        queue.Submit(next.Pair.Id, annotator, "left", 100);
    }

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
