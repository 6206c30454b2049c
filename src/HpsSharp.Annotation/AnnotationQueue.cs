using System.Globalization;

namespace HpsSharp.Annotation;

/// <summary>The pair to show next, in the order to show it, with the annotator's progress.</summary>
/// <param name="LeftIsPath1">True when path1 goes on the left.</param>
/// <param name="Done">Ordinary pairs this annotator has answered (skips included).</param>
/// <param name="Total">Ordinary pairs in the database.</param>
public sealed record NextPair(AnnotationPair Pair, bool LeftIsPath1, int Done, int Total);

/// <summary>An annotator's progress.</summary>
public sealed record AnnotatorProgress(string Annotator, int Done, int Total, int GoldDone);

/// <summary>
/// Decides which pair each annotator sees next and records the answers. Order for ordinary pairs: with model
/// probabilities, |P(A≻B) − 0.5| ascending (the pairs the model is least sure about first; pairs not scored yet come
/// after every scored one), then fewest judgements so far (pairs currently on another annotator's screen count as
/// judged, so concurrent annotators spread out), then the pair id. Without a model the first key is equal for all,
/// which is round-robin by fewest judgements. Gold pairs are mixed in so that they make up
/// <see cref="GoldRate"/> of each annotator's answers. An annotator never gets a pair they answered before, and
/// gets the same pair again until they answer it (a reload does not skip it). Thread-safe.
/// </summary>
public sealed class AnnotationQueue
{
    /// <summary>How long a shown, unanswered pair counts as "being judged" for other annotators.</summary>
    public static readonly TimeSpan InFlight = TimeSpan.FromMinutes(10);

    private readonly AnnotationStore _store;
    private readonly AnnotationPair[] _pairs;
    private readonly AnnotationPair[] _gold;
    private readonly Dictionary<long, AnnotationPair> _byId;
    private readonly double[] _probability;
    private readonly Dictionary<long, int> _counts = [];
    private readonly Dictionary<string, HashSet<long>> _done = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _current = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Dictionary<string, DateTime>> _inFlight = [];
    private readonly Random _random;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private int _scored;

    /// <param name="store">The database; its pairs (ordinary and gold) are the ones served.</param>
    /// <param name="goldRate">Share of each annotator's answers that are gold pairs (0 to 1).</param>
    /// <param name="random">Draws the left/right order.</param>
    /// <param name="time">The clock for "in flight"; tests pass a fake.</param>
    public AnnotationQueue(AnnotationStore store, double goldRate, Random? random = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (!(goldRate is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(goldRate), goldRate, "the gold rate must be between 0 and 1");
        }

        _store = store;
        GoldRate = goldRate;
        _random = random ?? Random.Shared;
        _time = time ?? TimeProvider.System;
        var all = store.Pairs();
        _pairs = [.. all.Where(p => !p.IsGold).OrderBy(p => p.Id)];
        _gold = [.. all.Where(p => p.IsGold).OrderByDescending(p => p.Id)];
        _byId = all.ToDictionary(p => p.Id);
        _probability = new double[_pairs.Length];
        Array.Fill(_probability, double.NaN);
        foreach (var j in store.Judgements())
        {
            Count(j.PairId, j.Annotator);
        }
    }

    /// <summary>Share of answers that are gold pairs.</summary>
    public double GoldRate { get; }

    /// <summary>The ordinary pairs, by id.</summary>
    public IReadOnlyList<AnnotationPair> Pairs => _pairs;

    /// <summary>The gold pairs (−1, −2, …).</summary>
    public IReadOnlyList<AnnotationPair> Gold => _gold;

    /// <summary>How many ordinary pairs have a model probability.</summary>
    public int Scored => Volatile.Read(ref _scored);

    /// <summary>Whether the order uses model probabilities.</summary>
    public bool UsesModel { get; private set; }

    /// <summary>Turns on the model order (before any probability arrives, every pair counts as "not scored yet").</summary>
    public void UseModel()
    {
        lock (_lock)
        {
            UsesModel = true;
        }
    }

    /// <summary>Sets P(path1 ≻ path2) of an ordinary pair from the model.</summary>
    public void SetProbability(long pairId, double p)
    {
        if (!(p is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, "a probability is between 0 and 1");
        }

        lock (_lock)
        {
            UsesModel = true;
            int i = IndexOf(pairId);
            if (double.IsNaN(_probability[i]))
            {
                _scored++;
            }

            _probability[i] = p;
        }
    }

    /// <summary>The model's P(path1 ≻ path2) of an ordinary pair, or NaN when not scored.</summary>
    public double Probability(long pairId)
    {
        lock (_lock)
        {
            return _probability[IndexOf(pairId)];
        }
    }

    /// <summary>The pair to show <paramref name="annotator"/> next, or null when they have answered every ordinary pair.</summary>
    public NextPair? Next(string annotator)
    {
        annotator = CheckAnnotator(annotator);
        lock (_lock)
        {
            var done = DoneOf(annotator);
            int doneOrdinary = done.Count(id => id >= 0);
            AnnotationPair? pair = null;
            if (_current.TryGetValue(annotator, out var current) && !done.Contains(current))
            {
                pair = _byId[current];
            }
            else
            {
                var ordinary = NextOrdinary(annotator, done);
                if (ordinary is null)
                {
                    return null;
                }

                int goldDone = done.Count - doneOrdinary;
                bool goldTurn = GoldRate > 0 && goldDone + 1 <= GoldRate * (done.Count + 1);
                pair = (goldTurn ? NextGold(done) : null) ?? ordinary;
            }

            bool leftIsPath1 = _store.ShowOrder(pair.Id, annotator, () => _random.Next(2) == 0);
            _current[annotator] = pair.Id;
            if (!_inFlight.TryGetValue(pair.Id, out var screens))
            {
                _inFlight[pair.Id] = screens = new(StringComparer.Ordinal);
            }

            screens[annotator] = _time.GetUtcNow().UtcDateTime;
            return new NextPair(pair, leftIsPath1, doneOrdinary, _pairs.Length);
        }
    }

    /// <summary>Stores an answer (committed before this returns).</summary>
    /// <exception cref="JudgementRejectedException">An invalid annotator name, choice or time; no pair with this id; a pair never shown to this annotator.</exception>
    /// <exception cref="DuplicateJudgementException">The annotator answered this pair before.</exception>
    public Judgement Submit(long pairId, string annotator, string choice, long ms)
    {
        annotator = CheckAnnotator(annotator);
        if (choice is not ("left" or "right" or "tie" or "skip"))
        {
            throw new JudgementRejectedException(JudgementRejection.Invalid, $"choice must be \"left\", \"right\", \"tie\" or \"skip\", not \"{choice}\"");
        }

        if (ms < 0)
        {
            throw new JudgementRejectedException(JudgementRejection.Invalid, string.Create(CultureInfo.InvariantCulture, $"ms (time taken) must not be negative (got {ms})"));
        }

        lock (_lock)
        {
            if (!_byId.ContainsKey(pairId))
            {
                throw new JudgementRejectedException(JudgementRejection.UnknownPair, string.Create(CultureInfo.InvariantCulture, $"no pair has id {pairId}"));
            }

            if (DoneOf(annotator).Contains(pairId))
            {
                throw new DuplicateJudgementException(pairId, annotator);
            }

            var judgement = _store.Record(pairId, annotator, choice, ms);
            Count(pairId, annotator);
            if (_inFlight.TryGetValue(pairId, out var screens))
            {
                screens.Remove(annotator);
            }

            return judgement;
        }
    }

    /// <summary>The annotator's progress over ordinary pairs.</summary>
    public AnnotatorProgress Progress(string annotator)
    {
        annotator = CheckAnnotator(annotator);
        lock (_lock)
        {
            var done = DoneOf(annotator);
            int ordinary = done.Count(id => id >= 0);
            return new AnnotatorProgress(annotator, ordinary, _pairs.Length, done.Count - ordinary);
        }
    }

    /// <summary>The ordinary pairs in the order they would be offered to <paramref name="annotator"/> now (for tests and diagnostics).</summary>
    public IReadOnlyList<long> Order(string annotator)
    {
        annotator = CheckAnnotator(annotator);
        lock (_lock)
        {
            var done = DoneOf(annotator);
            var now = _time.GetUtcNow().UtcDateTime;
            return [.. Enumerable.Range(0, _pairs.Length).Where(i => !done.Contains(_pairs[i].Id)).OrderBy(i => Key(i, annotator, now)).Select(i => _pairs[i].Id)];
        }
    }

    /// <summary>A valid annotator name: 1 to 64 characters after trimming, no control characters.</summary>
    /// <exception cref="JudgementRejectedException">Not a valid name.</exception>
    public static string CheckAnnotator(string? annotator)
    {
        var name = annotator?.Trim() ?? string.Empty;
        if (name.Length is 0 or > 64 || name.Any(char.IsControl))
        {
            throw new JudgementRejectedException(JudgementRejection.Invalid, "annotator must be a name of 1 to 64 characters without control characters");
        }

        return name;
    }

    private AnnotationPair? NextOrdinary(string annotator, HashSet<long> done)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        int best = -1;
        (double, int, long) bestKey = default;
        for (int i = 0; i < _pairs.Length; i++)
        {
            if (done.Contains(_pairs[i].Id))
            {
                continue;
            }

            var key = Key(i, annotator, now);
            if (best < 0 || key.CompareTo(bestKey) < 0)
            {
                best = i;
                bestKey = key;
            }
        }

        return best < 0 ? null : _pairs[best];
    }

    private AnnotationPair? NextGold(HashSet<long> done) =>
        _gold.Where(g => !done.Contains(g.Id)).OrderBy(g => _counts.GetValueOrDefault(g.Id)).ThenByDescending(g => g.Id).FirstOrDefault();

    private (double Uncertainty, int Judgements, long Id) Key(int i, string annotator, DateTime now)
    {
        var pair = _pairs[i];
        double p = _probability[i];

        // Pairs the model has not scored (yet, or because an image failed) come after every scored pair: 1 > any |p − 0.5|.
        double uncertainty = !UsesModel ? 0 : double.IsNaN(p) ? 1 : Math.Abs(p - 0.5);
        int count = _counts.GetValueOrDefault(pair.Id);
        if (_inFlight.TryGetValue(pair.Id, out var screens))
        {
            count += screens.Count(s => s.Key != annotator && now - s.Value < InFlight);
        }

        return (uncertainty, count, pair.Id);
    }

    private int IndexOf(long pairId)
    {
        if (pairId < 0 || pairId >= _pairs.Length || _pairs[pairId].Id != pairId)
        {
            throw new KeyNotFoundException(string.Create(CultureInfo.InvariantCulture, $"no ordinary pair has id {pairId}"));
        }

        return (int)pairId;
    }

    private HashSet<long> DoneOf(string annotator)
    {
        if (!_done.TryGetValue(annotator, out var set))
        {
            _done[annotator] = set = [];
        }

        return set;
    }

    private void Count(long pairId, string annotator)
    {
        _counts[pairId] = _counts.GetValueOrDefault(pairId) + 1;
        DoneOf(annotator).Add(pairId);
    }
}
