using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using HpsSharp.Core.Data;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;

namespace HpsSharp.Evaluation;

/// <summary>The score of one (prompt, image), or why there is none.</summary>
/// <param name="Score">The score; null when missing or failed.</param>
/// <param name="Missing">True when the image (file or scores-file entry) does not exist.</param>
/// <param name="Error">Why it has no score.</param>
/// <param name="HasSigma">False when the source has μ only (a scores file without <c>log_sigma</c>).</param>
/// <param name="SaturatedShare">Share of highly saturated pixels of the image, when the source measured it (see <see cref="PixelMonitor"/>).</param>
public readonly record struct ScoreLookup(Score? Score, bool Missing, string? Error, bool HasSigma = true, double? SaturatedShare = null);

/// <summary>
/// Measures the saturated-pixel share of each image once (by image key) for the reward-hacking monitors, while a
/// score source has the image's bytes in hand.
/// </summary>
public sealed class PixelMonitor(MonitorOptions options)
{
    private readonly Dictionary<string, double?> _measured = new(StringComparer.Ordinal);

    /// <summary>The thresholds (a pixel's saturation and value).</summary>
    public MonitorOptions Options { get; } = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>The share for <paramref name="key"/>, decoding <paramref name="image"/> the first time; null when it cannot be decoded.</summary>
    public double? Measure(string key, ImageInput image)
    {
        if (!_measured.TryGetValue(key, out var share))
        {
            share = RewardMonitors.SaturatedShare(image, Options);
            _measured[key] = share;
        }

        return share;
    }

    /// <summary>The share for <paramref name="key"/> when it was measured before.</summary>
    public bool TryGet(string key, out double? share) => _measured.TryGetValue(key, out share);
}

/// <summary>Counts of what a score source did, for the protocol block.</summary>
public sealed class ScoreSourceStats
{
    /// <summary>Images scored by the model in this run.</summary>
    public long Scored { get; set; }

    /// <summary>Scores taken from the cache.</summary>
    public long CacheHits { get; set; }

    /// <summary>Requests answered from an earlier request of the same run.</summary>
    public long Reused { get; set; }
}

/// <summary>Where scores come from: a model (through the cache) or a precomputed scores file.</summary>
public interface IScoreSource
{
    /// <summary>One line for reports: the model or the scores file.</summary>
    string Description { get; }

    /// <summary>The model, when known (a scores file written by <c>hps score --json</c> names it).</summary>
    ModelInfo? Model { get; }

    /// <summary>What was scored, cached and reused so far.</summary>
    ScoreSourceStats Stats { get; }

    /// <summary>The scores of <paramref name="items"/>, in order.</summary>
    Task<IReadOnlyList<ScoreLookup>> GetAsync(IReadOnlyList<(string Prompt, ImageRef Image)> items, CancellationToken cancellationToken = default);
}

/// <summary>
/// Scores with a model: each image's bytes are hashed, the cache is asked first, the rest is scored in one call whose
/// finished batches are written to the cache as the scorer reports them (so a killed run loses at most the batch in
/// flight). A non-finite score is an error for that image, never cached. Image paths resolve
/// under the image root and may not leave it; a missing file is reported as missing, not scored.
/// </summary>
public sealed class ModelScoreSource : IScoreSource
{
    private readonly IScorer _scorer;
    private readonly ScoreCache? _cache;
    private readonly string _imagesRoot;
    private readonly string _preprocess;
    private readonly IProgress<ScoreProgress>? _progress;

    public ModelScoreSource(IScorer scorer, ScoreCache? cache, string imagesRoot, IProgress<ScoreProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentException.ThrowIfNullOrEmpty(imagesRoot);
        _scorer = scorer;
        _cache = cache;
        _imagesRoot = imagesRoot;
        _progress = progress;
        _preprocess = ScoreKey.PreprocessOf(scorer.Model);
    }

    public string Description => _scorer.Model.Describe();

    public ModelInfo? Model => _scorer.Model;

    /// <summary>When set, each image's saturated-pixel share is measured from the bytes read for scoring (one extra decode per distinct image).</summary>
    public PixelMonitor? Pixels { get; set; }

    public ScoreSourceStats Stats { get; } = new();

    public async Task<IReadOnlyList<ScoreLookup>> GetAsync(IReadOnlyList<(string Prompt, ImageRef Image)> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var results = new ScoreLookup[items.Count];
        var keys = new ScoreKey?[items.Count];
        var inputs = new ImageInput?[items.Count];
        var shares = new double?[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            var (prompt, image) = items[i];
            byte[]? bytes = null;
            if (image.Bytes is { } mem)
            {
                inputs[i] = ImageInput.FromBytes(mem, image.Key);
                keys[i] = Key(mem.Span, prompt);
                shares[i] = Pixels?.Measure(image.Key, inputs[i]!);
                continue;
            }

            string path = ImageRoot.Resolve(_imagesRoot, image.Key);
            try
            {
                bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                results[i] = new ScoreLookup(null, true, $"image file not found: {path}");
                continue;
            }

            inputs[i] = ImageInput.FromBytes(bytes, image.Key);
            keys[i] = Key(bytes, prompt);
            shares[i] = Pixels?.Measure(image.Key, inputs[i]!);
        }

        var cached = _cache?.GetMany(keys.Where(k => k is not null).Select(k => k!.Value)) ?? [];
        var toScore = new List<ScoreRequest>();
        var toScoreKeys = new List<ScoreKey>();
        var pending = new Dictionary<ScoreKey, int>();
        for (int i = 0; i < items.Count; i++)
        {
            if (keys[i] is not { } key)
            {
                continue;
            }

            if (cached.TryGetValue(key, out var s))
            {
                results[i] = new ScoreLookup(s, false, null, s.HasUncertainty);
                Stats.CacheHits++;
            }
            else if (!pending.ContainsKey(key))
            {
                pending[key] = toScore.Count;
                toScore.Add(new ScoreRequest(items[i].Prompt, inputs[i]!));
                toScoreKeys.Add(key);
            }
            else
            {
                Stats.Reused++;
            }
        }

        if (toScore.Count > 0)
        {
            // Every batch the scorer finishes goes to the cache at once (one transaction), so a killed run loses at
            // most the batch in flight; whatever a scorer did not report as finished is written when it returns.
            var keyOf = new Dictionary<ScoreRequest, ScoreKey>(ReferenceEqualityComparer.Instance);
            for (int k = 0; k < toScore.Count; k++)
            {
                keyOf[toScore[k]] = toScoreKeys[k];
            }

            var written = new HashSet<ScoreRequest>(ReferenceEqualityComparer.Instance);
            var sink = new BatchSink(p =>
            {
                if (p.Finished is { } finished)
                {
                    Persist(finished, keyOf, written);
                }

                _progress?.Report(p);
            });
            var scored = await _scorer.ScoreAsync(toScore, sink, cancellationToken).ConfigureAwait(false);
            Persist(scored, keyOf, written);
            for (int i = 0; i < items.Count; i++)
            {
                if (keys[i] is { } key && results[i].Score is null && !results[i].Missing && pending.TryGetValue(key, out int at))
                {
                    var r = scored[at];
                    results[i] = Usable(r.Score) is { } sc ? new ScoreLookup(sc, false, null, sc.HasUncertainty) : new ScoreLookup(null, false, $"'{items[i].Image.Key}': {r.Error ?? NonFinite(r.Score)}");
                }
            }
        }

        for (int i = 0; i < items.Count; i++)
        {
            if (shares[i] is { } share && results[i].Score is not null)
            {
                results[i] = results[i] with { SaturatedShare = share };
            }
        }

        return results;
    }

    /// <summary>Writes the usable scores among <paramref name="results"/> not yet written, in one transaction.</summary>
    private void Persist(IEnumerable<ScoreResult> results, Dictionary<ScoreRequest, ScoreKey> keyOf, HashSet<ScoreRequest> written)
    {
        var fresh = new List<KeyValuePair<ScoreKey, Score>>();
        foreach (var r in results)
        {
            if (r is not null && Usable(r.Score) is { } sc && keyOf.TryGetValue(r.Request, out var key) && written.Add(r.Request))
            {
                fresh.Add(new(key, sc));
            }
        }

        if (fresh.Count > 0)
        {
            _cache?.PutMany(fresh);
            Stats.Scored += fresh.Count;
        }
    }

    /// <summary>A score that may be used and cached: both numbers finite (NaN or ∞ is an error for that item).</summary>
    private static Score? Usable(Score? score) => score is { } s && double.IsFinite(s.Mu) && (!s.HasUncertainty || double.IsFinite(s.LogSigma)) ? s : null;

    private static string NonFinite(Score? score) => score is { } s
        ? string.Create(CultureInfo.InvariantCulture, $"the model returned a non-finite score (μ = {s.Mu}, log σ = {s.LogSigma})")
        : "not scored";

    /// <summary>Progress that runs on the scorer's own flow (not posted to a context), so a batch is cached before the next starts.</summary>
    private sealed class BatchSink(Action<ScoreProgress> report) : IProgress<ScoreProgress>
    {
        public void Report(ScoreProgress value) => report(value);
    }

    private ScoreKey Key(ReadOnlySpan<byte> bytes, string prompt) =>
        new(_scorer.Model.Scorer == "hpsv3" ? _scorer.Model.Fingerprint : _scorer.Model.Scorer + ":" + _scorer.Model.Fingerprint, ScoreKey.HashImage(bytes), ScoreKey.HashPrompt(prompt), _preprocess);
}

/// <summary>
/// Scores from a file written earlier: JSON Lines <c>{"image": "&lt;path as in the dataset&gt;", "mu": x}</c> with
/// optional <c>"log_sigma"</c> and <c>"prompt"</c>, or the JSON document of <c>hps score --json</c>. When an entry
/// has a prompt it matches only that prompt; otherwise it matches the image under any prompt. An image without an
/// entry is reported as missing.
/// </summary>
public sealed class ScoresFileSource : IScoreSource
{
    // By image; entries written with a prompt go to a second map, asked first, so the common case costs one lookup.
    private readonly Dictionary<string, (Score Score, bool HasSigma)> _scores = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Image, string Prompt), (Score Score, bool HasSigma)> _byPrompt = [];

    private ScoresFileSource(string path, ModelInfo? model, string sha256)
    {
        Path = path;
        Model = model;
        Sha256 = sha256;
    }

    /// <summary>The scores file.</summary>
    public string Path { get; }

    /// <summary>SHA-256 of the scores file.</summary>
    public string Sha256 { get; }

    /// <summary>Number of entries.</summary>
    public int Count => _scores.Count + _byPrompt.Count;

    public ModelInfo? Model { get; }

    /// <summary>
    /// When set (with <see cref="ImagesRoot"/>, or for images held inside the dataset), each scored image's
    /// saturated-pixel share is measured from its pixels; an image file that is not there is simply not measured.
    /// </summary>
    public PixelMonitor? Pixels { get; set; }

    /// <summary>Where the dataset's image paths resolve for <see cref="Pixels"/>; the scores themselves never need it.</summary>
    public string? ImagesRoot { get; set; }

    public string Description => $"precomputed scores {Path} (sha256 {Sha256[..16]}…)" + (Model is null ? "" : $" from {Model.Describe()}");

    public ScoreSourceStats Stats { get; } = new();

    /// <summary>Reads a scores file.</summary>
    /// <exception cref="DatasetFormatException">An entry is malformed, or one image has two different scores.</exception>
    public static ScoresFileSource Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"scores file '{path}' does not exist", path);
        }

        string sha;
        using (var fs = File.OpenRead(path))
        {
            sha = Convert.ToHexStringLower(SHA256.HashData(fs));
        }

        // `hps score --json` writes one JSON document with "results"; JSONL has one object per line.
        string first = FirstNonBlank(path);
        if (first.StartsWith('{') && !first.TrimEnd().EndsWith('}'))
        {
            return LoadDocument(path, sha);
        }

        try
        {
            using var doc = JsonDocument.Parse(first);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("results", out _))
            {
                return LoadDocument(path, sha);
            }
        }
        catch (JsonException)
        {
            // Not a one-line document: read as JSONL and report the line.
        }

        var source = new ScoresFileSource(path, null, sha);
        foreach (var item in JsonlReader.Lines(path))
        {
            source.AddEntry(path, item.Line, item.Element);
        }

        return source;
    }

    public Task<IReadOnlyList<ScoreLookup>> GetAsync(IReadOnlyList<(string Prompt, ImageRef Image)> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var results = new ScoreLookup[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            var (prompt, image) = items[i];
            if ((_byPrompt.Count > 0 && _byPrompt.TryGetValue((image.Key, prompt), out var e)) || _scores.TryGetValue(image.Key, out e))
            {
                results[i] = new ScoreLookup(e.Score, false, null, e.HasSigma, Pixels is null ? null : Measure(image));
                Stats.CacheHits++;
            }
            else
            {
                results[i] = new ScoreLookup(null, true, $"no score for image '{image.Key}' in {Path}");
            }
        }

        return Task.FromResult<IReadOnlyList<ScoreLookup>>(results);
    }

    private double? Measure(ImageRef image)
    {
        if (Pixels!.TryGet(image.Key, out var known))
        {
            return known;
        }

        if (image.Bytes is { } mem)
        {
            return Pixels.Measure(image.Key, ImageInput.FromBytes(mem, image.Key));
        }

        if (ImagesRoot is null)
        {
            return null;
        }

        try
        {
            string file = ImageRoot.Resolve(ImagesRoot, image.Key);
            return File.Exists(file) ? Pixels.Measure(image.Key, ImageInput.FromBytes(File.ReadAllBytes(file), image.Key)) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Core.Data.ImagePathException)
        {
            return null; // the monitor only lacks this image's pixels; the score stands
        }
    }

    private static ScoresFileSource LoadDocument(string path, string sha)
    {
        using var stream = File.OpenRead(path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(stream);
        }
        catch (JsonException ex)
        {
            throw new DatasetFormatException(path, 1 + (ex.LineNumber ?? 0), "malformed JSON: " + ex.Message, ex);
        }

        using (doc)
        {
            if (!doc.RootElement.TryGetProperty("results", out var results) || results.ValueKind != JsonValueKind.Array)
            {
                throw new DatasetFormatException(path, 1, "expected JSON Lines of {\"image\", \"mu\"} or an `hps score --json` document with \"results\"");
            }

            ModelInfo? model = null;
            if (doc.RootElement.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.Object)
            {
                try
                {
                    model = m.Deserialize(ContractJson.Default.ModelRecord)?.ToModelInfo();
                }
                catch (JsonException ex)
                {
                    throw new DatasetFormatException(path, 1, "\"model\" is not the model object of `hps score --json`: " + ex.Message, ex);
                }
            }

            var source = new ScoresFileSource(path, model, sha);
            int index = 0;
            foreach (var e in results.EnumerateArray())
            {
                // Failed items carry "error" instead of numbers: they stay missing.
                if (!(e.ValueKind == JsonValueKind.Object && e.TryGetProperty("error", out _)))
                {
                    source.AddEntry(path, index, e, "result");
                }

                index++;
            }

            return source;
        }
    }

    private void AddEntry(string path, long line, JsonElement e, string unit = "line")
    {
        DatasetFormatException Bad(string reason) => new(path, line, reason, unit);
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw Bad("expected an object {\"image\", \"mu\"}");
        }

        if (!e.TryGetProperty("image", out var img) || img.ValueKind != JsonValueKind.String || img.GetString()!.Length == 0)
        {
            throw Bad("'image' is missing or not a non-empty string");
        }

        // "mu" (HPSv3), else "score" (what every scorer's `hps score --json` writes).
        if ((!e.TryGetProperty("mu", out var mu) || mu.ValueKind != JsonValueKind.Number) && (!e.TryGetProperty("score", out mu) || mu.ValueKind != JsonValueKind.Number))
        {
            throw Bad($"'mu' is missing or not a number (and so is 'score') for image '{img.GetString()}'");
        }

        double muValue = mu.GetDouble();
        if (!double.IsFinite(muValue))
        {
            throw Bad($"'mu' is not finite for image '{img.GetString()}'");
        }

        bool hasSigma = e.TryGetProperty("log_sigma", out var ls) && ls.ValueKind == JsonValueKind.Number;
        var score = new Score(muValue, hasSigma ? ls.GetDouble() : 0);
        string? prompt = e.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        string image = img.GetString()!;
        bool known = prompt is null ? _scores.TryGetValue(image, out var existing) : _byPrompt.TryGetValue((image, prompt), out existing);
        if (known && existing.Score != score)
        {
            throw Bad(string.Create(CultureInfo.InvariantCulture, $"image '{image}'{(prompt is null ? "" : " with the same prompt")} already has μ = {existing.Score.Mu} (now {score.Mu}); give each entry a \"prompt\" or remove duplicates"));
        }

        if (prompt is null)
        {
            _scores[image] = (score, hasSigma);
        }
        else
        {
            _byPrompt[(image, prompt)] = (score, hasSigma);
        }
    }

    private static string FirstNonBlank(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                return line.Trim();
            }
        }

        throw new DatasetFormatException(path, 1, "the scores file is empty");
    }
}
