using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using HpsSharp.Core.Metrics;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Evaluation;

/// <summary>Options of an evaluation run.</summary>
public sealed record EvalOptions
{
    /// <summary>How predicted ties count (default: the paper's strict policy).</summary>
    public TiePolicy Ties { get; init; } = TiePolicy.Strict;

    /// <summary>How human ties count; null: the format's default (<see cref="EvalDataset.DefaultTruthTies"/>).</summary>
    public GroundTruthTiePolicy? TruthTies { get; init; }

    /// <summary>Bootstrap resamples for the 95% interval (0 = no interval).</summary>
    public int BootstrapResamples { get; init; } = Bootstrap.DefaultResamples;

    /// <summary>Bootstrap seed.</summary>
    public int Seed { get; init; }

    /// <summary>Name of the split for the protocol block; default: the dataset file's name.</summary>
    public string? Split { get; init; }

    /// <summary>The image root as given (for the protocol block).</summary>
    public string? ImagesRoot { get; init; }

    /// <summary>Pairs (or ranked items) sent to the score source at a time.</summary>
    public int ChunkSize { get; init; } = 256;

    /// <summary>μ values kept per model for the distribution plot (reservoir sample beyond this).</summary>
    public int ScoreSampleLimit { get; init; } = 100_000;

    /// <summary>Pairs used for the reliability curve (a seeded uniform sample beyond this).</summary>
    public int ReliabilitySampleLimit { get; init; } = 100_000;

    /// <summary>Reference set for the drift monitor (and the collapse threshold); null: no drift monitor.</summary>
    public Calibration? Calibration { get; init; }

    /// <summary>Thresholds of the reward-hacking monitors (as <c>hps serve</c> uses them).</summary>
    public MonitorOptions Monitor { get; init; } = new();

    /// <summary>Stop when the dataset has this many records (0 = all); for quick looks, stated in the protocol.</summary>
    public long Limit { get; init; }
}

/// <summary>Progress of an evaluation: records read so far.</summary>
public readonly record struct EvalProgress(long Records, long Scored);

/// <summary>
/// Runs the paper's evaluation protocols (docs/evaluation.md#pair-accuracy) over a dataset with any score source, streaming the
/// dataset in chunks so memory stays bounded (one byte per pair is kept for the bootstrap).
/// </summary>
public static class Evaluator
{
    private const int MaxProblems = 20;

    /// <summary>Evaluates <paramref name="dataset"/> with scores from <paramref name="source"/>.</summary>
    /// <exception cref="Core.Data.DatasetFormatException">A record is malformed.</exception>
    /// <exception cref="MetricException">No pair could be counted.</exception>
    public static async Task<EvalResult> RunAsync(EvalDataset dataset, IScoreSource source, EvalOptions? options = null, IProgress<EvalProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(source);
        options ??= new EvalOptions();
        var truthTies = options.TruthTies ?? EvalDataset.DefaultTruthTies(dataset.Format);
        if (truthTies == GroundTruthTiePolicy.Listed && dataset.Format != DatasetFormat.Hpdv3)
        {
            throw new ArgumentException($"ground-truth tie policy 'listed' applies only to HPDv3 (where path1 is the listed preference); {EvalDataset.Name(dataset.Format)} ties have no listed order: use exclude, half or match");
        }

        var state = new State(options with { TruthTies = truthTies }, explicitTruthTies: options.TruthTies is not null);
        if (dataset.Metric == MetricKind.PairAccuracy)
        {
            foreach (var chunk in Limit(dataset.Pairs(), options.Limit).Chunk(options.ChunkSize))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var requests = new List<(string, ImageRef)>(chunk.Length * 2);
                foreach (var p in chunk)
                {
                    requests.Add((p.Prompt, p.Preferred));
                    requests.Add((p.Prompt, p.Other));
                }

                var scores = await source.GetAsync(requests, cancellationToken).ConfigureAwait(false);
                for (int i = 0; i < chunk.Length; i++)
                {
                    state.AddPair(chunk[i], scores[2 * i], scores[(2 * i) + 1]);
                }

                progress?.Report(new EvalProgress(state.Records, source.Stats.Scored));
            }
        }
        else
        {
            foreach (var chunk in Limit(dataset.Rankings(), options.Limit).Chunk(Math.Max(1, options.ChunkSize / 4)))
            {
                cancellationToken.ThrowIfCancellationRequested();
                var requests = chunk.SelectMany(r => r.Images.Select(img => (r.Prompt, img))).ToList();
                var scores = await source.GetAsync(requests, cancellationToken).ConfigureAwait(false);
                int at = 0;
                foreach (var item in chunk)
                {
                    state.AddRanking(item, scores.Skip(at).Take(item.Images.Count).ToArray());
                    at += item.Images.Count;
                }

                progress?.Report(new EvalProgress(state.Records, source.Stats.Scored));
            }
        }

        return state.Finish(dataset, source);
    }

    private static IEnumerable<T> Limit<T>(IEnumerable<T> items, long limit) => limit > 0 ? items.Take(checked((int)limit)) : items;

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    public static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    /// <summary>The informational version of HpsSharp.Evaluation.</summary>
    public static string Version =>
        typeof(Evaluator).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private sealed class State(EvalOptions options, bool explicitTruthTies)
    {
        private readonly GroundTruthTiePolicy _truthTies = options.TruthTies!.Value;
        private readonly OutcomeCounts _total = new();
        private readonly Dictionary<string, OutcomeCounts> _byPair = new(StringComparer.Ordinal);
        private readonly Dictionary<string, OutcomeCounts> _byCategory = new(StringComparer.Ordinal);
        private readonly List<byte> _outcomes = [];
        private readonly List<double> _itemNum = [];
        private readonly List<double> _itemDen = [];
        private readonly long[] _binCount = new long[10];
        private readonly long[] _binAgree = new long[10];
        private readonly double[] _binPredicted = new double[10];
        private readonly Dictionary<string, Reservoir<double>> _samples = new(StringComparer.Ordinal);
        private readonly Reservoir<(Score A, Score B, bool Sigma)> _reliability = new(options.ReliabilitySampleLimit, options.Seed);
        private long _reliabilityPairs;
        private readonly HashSet<string> _missing = new(StringComparer.Ordinal);
        private readonly HashSet<string> _failed = new(StringComparer.Ordinal);
        private readonly List<string> _problems = [];
        private bool _allSigma = true;
        private long _skipped;
        private long _items;
        private long _listedTies;
        private readonly HashSet<(string Prompt, string Image)> _monitorSeen = [];
        private readonly List<MonitoredScore> _monitored = [];
        private readonly List<double> _saturation = [];

        public long Records { get; private set; }

        public void AddPair(EvalPair pair, ScoreLookup a, ScoreLookup b)
        {
            Records++;
            if (!Usable(pair.Preferred, a) | !Usable(pair.Other, b))
            {
                _skipped++;
                return;
            }

            var sa = a.Score!.Value;
            var sb = b.Score!.Value;
            Monitor(pair.Prompt, pair.Preferred, a);
            Monitor(pair.Prompt, pair.Other, b);
            _allSigma &= a.HasSigma && b.HasSigma;
            // Under 'listed' a human tie is an ordinary pair in its listed orientation (evaluate.py counts them all).
            bool listed = pair.TruthTie && _truthTies == GroundTruthTiePolicy.Listed;
            if (listed)
            {
                _listedTies++;
            }

            var outcome = Accuracy.Classify(sa.Mu, sb.Mu, pair.TruthTie && !listed);
            _total.Add(outcome);
            _outcomes.Add((byte)outcome);
            Group(_byPair, PairName(pair.ModelPreferred, pair.ModelOther))?.Add(outcome);
            Group(_byCategory, pair.Category)?.Add(outcome);
            Sample(pair.ModelPreferred ?? "all", sa.Mu);
            Sample(pair.ModelOther ?? "all", sb.Mu);
            if (!pair.TruthTie)
            {
                // P(A≻B) by quadrature costs microseconds: the curve uses a seeded uniform sample of the pairs.
                _reliabilityPairs++;
                _reliability.Add((sa, sb, a.HasSigma && b.HasSigma));
            }
        }

        public void AddRanking(EvalRanking item, ScoreLookup[] scores)
        {
            Records++;
            var keep = new List<int>();
            for (int i = 0; i < scores.Length; i++)
            {
                if (Usable(item.Images[i], scores[i]))
                {
                    keep.Add(i);
                }
            }

            foreach (var i in keep)
            {
                Monitor(item.Prompt, item.Images[i], scores[i]);
            }

            int n = item.Images.Count;
            _skipped += (n * (n - 1) / 2) - (keep.Count * (keep.Count - 1) / 2);
            if (keep.Count < 2)
            {
                return;
            }

            var counts = OutcomeCounts.ForRanking(keep.Select(i => item.Ranks[i]).ToArray(), keep.Select(i => scores[i].Score!.Value.Mu).ToArray());
            _items++;
            _total.Add(counts);
            Group(_byCategory, item.Category)?.Add(counts);
            var (num, den) = counts.Ratio(options.Ties, _truthTies);
            _itemNum.Add(num);
            _itemDen.Add(den);
            foreach (var i in keep)
            {
                Sample("all", scores[i].Score!.Value.Mu);
            }
        }

        public EvalResult Finish(EvalDataset dataset, IScoreSource source)
        {
            var (num, den) = _total.Ratio(options.Ties, _truthTies);
            bool ranking = dataset.Metric == MetricKind.RankingAccuracy;
            double[]? ci = null;
            string bootstrap = "not computed";
            if (den > 0 && options.BootstrapResamples > 0)
            {
                BootstrapInterval interval = ranking
                    ? Core.Metrics.Bootstrap.Ratio(_itemNum, _itemDen, options.BootstrapResamples, options.Seed)
                    : Core.Metrics.Bootstrap.Coded(
                        _outcomes.ToArray(),
                        Enumerable.Range(0, 5).Select(o => Accuracy.Weigh((PairOutcome)o, options.Ties, _truthTies)).ToArray(),
                        options.BootstrapResamples,
                        options.Seed);
                ci = [interval.Low, interval.High];
                bootstrap = string.Create(CultureInfo.InvariantCulture, $"percentile bootstrap, {interval.Resamples} resamples of {(ranking ? "ranked items" : "pairs")} with replacement, seed {interval.Seed}");
            }

            double? meanItem = null;
            if (ranking)
            {
                var per = _itemNum.Zip(_itemDen).Where(t => t.Second > 0).Select(t => t.First / t.Second).ToArray();
                meanItem = per.Length > 0 ? per.Average() : null;
            }

            foreach (var (sa, sb, sigma) in _reliability.ToArray())
            {
                _allSigma &= sigma;
                double p = sigma ? Preference.ProbabilityAOverB(sa, sb) : Preference.Sigmoid(sa.Mu - sb.Mu);
                Bin(p, agree: true);
                Bin(1 - p, agree: false);
            }

            long sampled = _reliability.ToArray().Length;
            string over = sampled == _reliabilityPairs
                ? $"all {sampled} pairs without a human tie"
                : $"a uniform sample (seed {options.Seed}) of {sampled} of the {_reliabilityPairs} pairs without a human tie";

            string metricName = ranking ? "ranking_accuracy" : "pair_accuracy";
            var protocol = new EvalProtocol
            {
                Dataset = Path.GetFullPath(dataset.Path),
                Format = EvalDataset.Name(dataset.Format),
                Split = (options.Split ?? Path.GetFileNameWithoutExtension(dataset.Path)) + (options.Limit > 0 ? $" (first {options.Limit} records only)" : ""),
                DatasetSha256 = Sha256(dataset.Path),
                Records = Records,
                Metric = metricName,
                MetricDefinition = ranking
                    ? "over each item's image pairs i<j with different human ranks (lower rank = better), correct iff the predicted μ order strictly agrees; pooled over items"
                    : "over judged pairs, correct iff μ(human-preferred image) > μ(other) strictly; each image scored in its own pass",
                TiePolicy = Accuracy.Name(options.Ties),
                TiePolicyDefinition = Accuracy.Describe(options.Ties),
                GroundTruthTies = Accuracy.Name(_truthTies),
                GroundTruthTiesDefinition = Accuracy.Describe(_truthTies) + TruthTieSource(dataset.Format)
                    + (_truthTies == GroundTruthTiePolicy.Listed ? string.Create(CultureInfo.InvariantCulture, $"; {_listedTies} such pair(s) counted as listed") : string.Empty)
                    + (explicitTruthTies ? "; chosen explicitly" : $"; the default for {EvalDataset.Name(dataset.Format)}"),
                Scorer = ScorerDescription.Of(source.Model, source.Description),
                ImagesRoot = options.ImagesRoot,
                MissingImages = _missing.Count,
                FailedImages = _failed.Count,
                SkippedPairs = _skipped,
                Bootstrap = bootstrap,
                Version = Version,
                EvaluatedUtc = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
            };

            if (den == 0)
            {
                throw new MetricException(metricName, $"no pair could be counted in {dataset.Path}: {Records} records, {_total.Total} scored pairs, {_total.TruthTies} ground-truth ties ({Accuracy.Name(_truthTies)}), {_missing.Count} missing and {_failed.Count} failed images"
                    + (_problems.Count > 0 ? $"; first problem: {_problems[0]}" : ""));
            }

            return new EvalResult
            {
                Protocol = protocol,
                Metric = metricName,
                Accuracy = num / den,
                Pairs = (long)den,
                Correct = _total.Correct,
                Wrong = _total.Wrong,
                PredictedTies = _total.PredictedTies,
                TruthTies = _total.TruthTies + _listedTies,
                ScoredPairs = _total.Total,
                Ci95 = ci,
                Items = ranking ? _items : null,
                MeanItemAccuracy = meanItem,
                ByModelPair = Groups(_byPair),
                ByCategory = Groups(_byCategory),
                Reliability = Enumerable.Range(0, 10).Select(i => new ReliabilityBin(
                    i / 10.0, (i + 1) / 10.0, _binCount[i],
                    _binCount[i] > 0 ? _binPredicted[i] / _binCount[i] : null,
                    _binCount[i] > 0 ? (double)_binAgree[i] / _binCount[i] : null)).ToArray(),
                ReliabilityProbability = ranking
                    ? "not computed for ranking datasets"
                    : _allSigma
                        ? $"P(A≻B) = E[sigmoid(z)], z ~ N(μA−μB, σA²+σB²), over {over}; each pair counted in both orientations"
                        : $"P(A≻B) = sigmoid(μA−μB) (some scores have no σ), over {over}; each pair counted in both orientations",
                ScoredImages = source.Stats.Scored,
                CacheHits = source.Stats.CacheHits,
                Problems = _problems,
                Monitors = Monitors(),
                ScoreSamples = _samples.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal),
            };
        }

        private static string TruthTieSource(DatasetFormat format) => format switch
        {
            DatasetFormat.Hpdv3 => " (HPDv3: equal choice_dist votes)",
            DatasetFormat.Pickapic => " (Pick-a-Pic: label_0 = label_1 = 0.5)",
            DatasetFormat.Jsonl => " (JSONL: label 0.5 or equal ranks)",
            _ => " (equal human ranks)",
        };

        private IReadOnlyList<GroupAccuracy> Groups(Dictionary<string, OutcomeCounts> groups) =>
            groups.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv =>
            {
                var (n, d) = kv.Value.Ratio(options.Ties, _truthTies);
                return new GroupAccuracy(kv.Key, d > 0 ? n / d : null, (long)d, kv.Value.Correct, kv.Value.PredictedTies, kv.Value.TruthTies);
            }).ToArray();

        private static OutcomeCounts? Group(Dictionary<string, OutcomeCounts> groups, string? name)
        {
            if (name is null)
            {
                return null;
            }

            if (!groups.TryGetValue(name, out var c))
            {
                c = new OutcomeCounts();
                groups[name] = c;
            }

            return c;
        }

        private static string? PairName(string? a, string? b) =>
            a is null || b is null ? null : string.CompareOrdinal(a, b) <= 0 ? $"{a} vs {b}" : $"{b} vs {a}";

        private bool Usable(ImageRef image, ScoreLookup lookup)
        {
            if (lookup.Score is not null)
            {
                return true;
            }

            var set = lookup.Missing ? _missing : _failed;
            if (set.Add(image.Key) && _problems.Count < MaxProblems)
            {
                _problems.Add(lookup.Error ?? image.Key);
            }

            return false;
        }

        /// <summary>Each distinct (prompt, image) once, in dataset order, for the reward-hacking monitors.</summary>
        private void Monitor(string prompt, ImageRef image, ScoreLookup lookup)
        {
            if (!_monitorSeen.Add((prompt, image.Key)))
            {
                return;
            }

            var s = lookup.Score!.Value;
            _monitored.Add(new MonitoredScore(prompt, s.Mu, lookup.HasSigma && s.HasUncertainty ? s.Sigma : double.NaN));
            if (lookup.SaturatedShare is { } share)
            {
                _saturation.Add(share);
            }
        }

        private System.Text.Json.Nodes.JsonObject Monitors() => RewardMonitors.Summarize(
            _monitored, _saturation, options.Calibration, options.Monitor,
            new System.Text.Json.Nodes.JsonObject
            {
                ["items"] = _monitored.Count,
                ["order"] = "the scored set: each distinct (prompt, image) once, in dataset order, which the σ trend follows",
                ["with_sigma"] = _monitored.Count(m => double.IsFinite(m.Sigma)),
                ["with_pixels"] = _saturation.Count,
                ["calibration"] = options.Calibration is { } c ? $"{c.Reference} ({c.Count} images, {c.Model})" : null,
            });

        private void Bin(double p, bool agree)
        {
            int i = Math.Clamp((int)(p * 10), 0, 9);
            _binCount[i]++;
            _binPredicted[i] += p;
            if (agree)
            {
                _binAgree[i]++;
            }
        }

        private void Sample(string model, double mu)
        {
            if (!_samples.TryGetValue(model, out var r))
            {
                r = new Reservoir<double>(options.ScoreSampleLimit, options.Seed ^ model.Length);
                _samples[model] = r;
            }

            r.Add(mu);
        }
    }

    /// <summary>Uniform reservoir sample of a stream (Algorithm R), seeded.</summary>
    private sealed class Reservoir<T>(int capacity, int seed)
    {
        private readonly List<T> _items = [];
        private readonly Random _random = new(seed);
        private long _seen;

        public void Add(T x)
        {
            _seen++;
            if (_items.Count < capacity)
            {
                _items.Add(x);
                return;
            }

            long j = _random.NextInt64(_seen);
            if (j < capacity)
            {
                _items[(int)j] = x;
            }
        }

        public T[] ToArray() => _items.ToArray();
    }
}
