using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HpsSharp.Cohp.Generators;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HpsSharp.Cohp;

/// <summary>Progress of a CoHP run: images finished (generated or reused) out of the planned total.</summary>
public readonly record struct CohpProgress(int Done, int Total, string Message);

/// <summary>
/// Chain-of-Human-Preference (docs/cohp.md): a model-wise stage (every generator makes N images; the generator with
/// the best mean μ wins and its best image is the start), then sample-wise rounds (K img2img candidates from the
/// current source with the round's strength; a round's best is adopted when it beats the best so far). Selection
/// follows the upstream code by default (<see cref="CohpOptions"/>). Everything lands in a <see cref="RunFolder"/>;
/// rerunning on the same folder reuses every image whose recipe is unchanged, so an interrupted run continues.
/// </summary>
public sealed partial class CohpRunner
{
    private readonly IScorer _scorer;
    private readonly IReadOnlyList<IImageGenerator> _generators;
    private readonly ILogger _logger;

    public CohpRunner(IScorer scorer, IReadOnlyList<IImageGenerator> generators, ILogger<CohpRunner>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentNullException.ThrowIfNull(generators);
        if (generators.Count == 0)
        {
            throw new ArgumentException("at least one generator is needed", nameof(generators));
        }

        _scorer = scorer;
        _generators = generators;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The seed of one image: derived from the base seed, the stage, generator, round and index; below 2³²−1 (A1111's range).</summary>
    public static long DeriveSeed(long baseSeed, string stage, string generator, int round, int index)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{baseSeed}|{stage}|{generator}|{round}|{index}")));
        return (long)(BitConverter.ToUInt64(h, 0) % 4294967295UL);
    }

    /// <summary>Runs (or continues) CoHP for <paramref name="prompt"/> in <paramref name="outDir"/> and returns the run document.</summary>
    public async Task<CohpRun> RunAsync(string prompt, string outDir, CohpOptions options, IProgress<CohpProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prompt);
        ArgumentException.ThrowIfNullOrEmpty(outDir);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var gens = Select(options);
        var folder = new RunFolder(outDir);
        var previous = RunFolder.TryLoad(folder.Path);
        if (previous is not null && !string.Equals(previous.Prompt, prompt, StringComparison.Ordinal))
        {
            throw new CohpException(folder.Path, $"the folder holds a run for another prompt (\"{Short(previous.Prompt)}\"); choose another output folder or remove it");
        }

        var state = new RunState(this, prompt, folder, options, gens, previous, progress, cancellationToken);
        return await state.RunAsync().ConfigureAwait(false);
    }

    private List<IImageGenerator> Select(CohpOptions options)
    {
        if (options.Generators is null || options.Generators.Count == 0)
        {
            return [.. _generators];
        }

        var byName = _generators.ToDictionary(g => g.Spec.Name, StringComparer.OrdinalIgnoreCase);
        var chosen = new List<IImageGenerator>();
        foreach (var name in options.Generators)
        {
            if (!byName.TryGetValue(name, out var g))
            {
                throw Core.UserInputException.ForOption(nameof(CohpOptions.Generators), $"no generator named '{name}' (the generators file has: {string.Join(", ", _generators.Select(x => x.Spec.Name))})");
            }

            if (!chosen.Contains(g))
            {
                chosen.Add(g);
            }
        }

        return chosen;
    }

    private static string Short(string s) => s.Length <= 60 ? s : s[..60] + "…";

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    [LoggerMessage(Level = LogLevel.Warning, Message = "CoHP: generator {Generator} failed in the model stage and is skipped: {Error}")]
    private static partial void LogGeneratorFailed(ILogger logger, string generator, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CoHP: round {Round} failed; keeping the best image so far: {Error}")]
    private static partial void LogRoundFailed(ILogger logger, int round, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "CoHP: chose generator {Generator} (mean μ {Mean}); start {File} (μ {Mu})")]
    private static partial void LogChosen(ILogger logger, string generator, double mean, string file, double mu);

    /// <summary>The mutable state of one invocation.</summary>
    private sealed class RunState
    {
        private readonly CohpRunner _owner;
        private readonly string _prompt;
        private readonly RunFolder _folder;
        private readonly CohpOptions _options;
        private readonly List<IImageGenerator> _gens;
        private readonly IProgress<CohpProgress>? _progress;
        private readonly CancellationToken _ct;
        private readonly Dictionary<string, ImageRecord> _cache = new(StringComparer.Ordinal);
        private readonly CohpRun _run;
        private readonly int _total;
        private int _done;

        public RunState(CohpRunner owner, string prompt, RunFolder folder, CohpOptions options, List<IImageGenerator> gens, CohpRun? previous, IProgress<CohpProgress>? progress, CancellationToken ct)
        {
            _owner = owner;
            _prompt = prompt;
            _folder = folder;
            _options = options;
            _gens = gens;
            _progress = progress;
            _ct = ct;
            _total = (gens.Count * options.ImagesPerGenerator) + (options.Rounds * options.CandidatesPerRound);
            if (previous is not null)
            {
                foreach (var img in previous.ModelStage.SelectMany(e => e.Images).Concat(previous.Rounds.SelectMany(r => r.Candidates)))
                {
                    if (img.Recipe is not null && img.Sha256 is not null && img.Error is null)
                    {
                        _cache[img.File] = img;
                    }
                }
            }

            var model = owner._scorer.Model;
            _run = new CohpRun
            {
                Prompt = prompt,
                Model = ModelRecord.From(model),
                Settings = new CohpSettings
                {
                    Seed = options.Seed,
                    ImagesPerGenerator = options.ImagesPerGenerator,
                    Rounds = options.Rounds,
                    CandidatesPerRound = options.CandidatesPerRound,
                    Strengths = [.. Enumerable.Range(1, options.Rounds).Select(options.StrengthFor)],
                    Threshold = options.Threshold,
                    StartCompetes = options.StartCompetes,
                    EarlyStop = options.EarlyStop,
                    Generators = [.. gens.Select(g => new GeneratorRecord { Name = g.Spec.Name, Kind = g.Spec.Kind == GeneratorKind.A1111 ? "a1111" : "comfyui", Url = g.Spec.Url.ToString(), Fingerprint = g.Spec.Fingerprint() })],
                },
            };
        }

        public async Task<CohpRun> RunAsync()
        {
            Directory.CreateDirectory(_folder.Path);
            Save();

            // Stage one: model-wise preference.
            var failures = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var gen in _gens)
            {
                var entry = new ModelStageEntry { Generator = gen.Spec.Name };
                _run.ModelStage.Add(entry);
                try
                {
                    for (int i = 1; i <= _options.ImagesPerGenerator; i++)
                    {
                        long seed = DeriveSeed(_options.Seed, "model", gen.Spec.Name, 0, i);
                        var rec = new ImageRecord { Generator = gen.Spec.Name, Stage = "model", Index = i, Seed = seed };
                        rec.Recipe = Recipe(gen, rec, null);
                        await ObtainAsync(rec, $"model/{gen.Spec.Name}-{i}", ct => gen.TextToImageAsync(_prompt, seed, ct), $"model stage: {gen.Spec.Name} image {i}").ConfigureAwait(false);
                        entry.Images.Add(rec);
                        Save();
                    }

                    await ScoreAsync(entry.Images).ConfigureAwait(false);
                    var bad = entry.Images.FirstOrDefault(x => x.Error is not null);
                    if (bad is not null)
                    {
                        throw new GeneratorException(gen.Spec.Name, gen.Spec.Url.ToString(), "txt2img", $"image '{bad.File}' could not be scored: {bad.Error}");
                    }

                    entry.MeanMu = entry.Images.Average(x => x.Mu!.Value);
                }
                catch (GeneratorException ex)
                {
                    entry.Error = ex.Message;
                    failures[gen.Spec.Name] = ex.Message;
                    LogGeneratorFailed(_owner._logger, gen.Spec.Name, ex.Message);
                    Report($"model stage: {gen.Spec.Name} failed and is skipped: {ex.Message}", countImage: false);
                }

                Save();
            }

            var ok = _run.ModelStage.Where(e => e.Error is null && e.MeanMu is not null).ToList();
            if (ok.Count == 0)
            {
                _run.Status = "failed";
                _run.Error = "every generator failed in the model stage";
                Save();
                throw new CohpException(_folder.Path, $"every generator failed in the model stage: {string.Join("; ", failures.Values)}", failures);
            }

            // Ties go to the earlier generator / image, so the choice never depends on anything but the scores and order.
            var bestEntry = ok.Aggregate((a, b) => b.MeanMu!.Value > a.MeanMu!.Value ? b : a);
            var chosen = _gens.First(g => g.Spec.Name == bestEntry.Generator);
            var start = bestEntry.Images.Aggregate((a, b) => b.Mu!.Value > a.Mu!.Value ? b : a);
            _run.ChosenGenerator = bestEntry.Generator;
            _run.Start = new ImageRef { File = start.File, Mu = start.Mu!.Value };
            LogChosen(_owner._logger, bestEntry.Generator, bestEntry.MeanMu!.Value, start.File, start.Mu!.Value);
            Report($"chose {bestEntry.Generator} (mean μ {F(bestEntry.MeanMu!.Value)}); start {start.File} (μ {F(start.Mu!.Value)})", countImage: false);
            Save();

            // Stage two: sample-wise preference.
            var source = start;
            var final = start;
            double bar = _options.StartCompetes ? start.Mu!.Value : _options.Threshold;
            for (int r = 1; r <= _options.Rounds; r++)
            {
                double strength = _options.StrengthFor(r);
                var round = new RoundRecord { Round = r, Strength = strength, Source = source.File, Bar = bar };
                _run.Rounds.Add(round);
                var init = await File.ReadAllBytesAsync(_folder.Full(source.File), _ct).ConfigureAwait(false);
                string sourceHash = Hex(init);
                try
                {
                    for (int k = 1; k <= _options.CandidatesPerRound; k++)
                    {
                        long seed = DeriveSeed(_options.Seed, "sample", string.Empty, r, k);
                        var rec = new ImageRecord { Generator = chosen.Spec.Name, Stage = "sample", Round = r, Index = k, Seed = seed, Strength = strength, Source = source.File };
                        rec.Recipe = Recipe(chosen, rec, sourceHash);
                        await ObtainAsync(rec, $"round-{r}/candidate-{k}", ct => chosen.ImageToImageAsync(_prompt, seed, init, strength, ct), $"round {r}: candidate {k} (strength {F(strength)})").ConfigureAwait(false);
                        round.Candidates.Add(rec);
                        Save();
                    }

                    await ScoreAsync(round.Candidates).ConfigureAwait(false);
                    if (round.Candidates.All(c => c.Mu is null))
                    {
                        throw new GeneratorException(chosen.Spec.Name, chosen.Spec.Url.ToString(), "img2img", $"no candidate of round {r} could be scored: {round.Candidates[0].Error}");
                    }
                }
                catch (GeneratorException ex)
                {
                    round.Error = ex.Message;
                    _run.Stopped = "generator_error";
                    _run.Error = ex.Message;
                    LogRoundFailed(_owner._logger, r, ex.Message);
                    Report($"round {r} failed; keeping the best image so far: {ex.Message}", countImage: false);
                    break;
                }

                var best = round.Candidates.Where(c => c.Mu is not null).Aggregate((a, b) => b.Mu!.Value > a.Mu!.Value ? b : a);
                round.Best = best.File;
                round.BestMu = best.Mu;
                if (best.Mu!.Value > bar)
                {
                    bar = best.Mu.Value;
                    source = best;
                    final = best;
                    round.Kept = best.File;
                    Report($"round {r}: kept {best.File} (μ {F(best.Mu.Value)})", countImage: false);
                }
                else
                {
                    Report($"round {r}: best {best.File} (μ {F(best.Mu.Value)}) does not beat {F(bar)}; nothing kept", countImage: false);
                    if (_options.EarlyStop)
                    {
                        _run.Stopped = "early_stop";
                        Save();
                        break;
                    }
                }

                Save();
            }

            var finalBytes = await File.ReadAllBytesAsync(_folder.Full(final.File), _ct).ConfigureAwait(false);
            string copy = "final." + (ImageFormat.Extension(finalBytes) ?? "png");
            _folder.WriteAtomic(copy, finalBytes);
            _run.Final = new ImageRef { File = final.File, Mu = final.Mu!.Value, Copy = copy };
            _run.Status = _run.Stopped == "generator_error" ? "partial" : "complete";
            Save();
            return _run;
        }

        private string Recipe(IImageGenerator gen, ImageRecord rec, string? sourceHash) => Hex(Encoding.UTF8.GetBytes(string.Join(
            "\n",
            _prompt,
            gen.Spec.Fingerprint(),
            rec.Stage,
            rec.Round?.ToString(CultureInfo.InvariantCulture) ?? "-",
            rec.Index.ToString(CultureInfo.InvariantCulture),
            rec.Seed.ToString(CultureInfo.InvariantCulture),
            rec.Strength?.ToString("R", CultureInfo.InvariantCulture) ?? "-",
            sourceHash ?? "-")))[..32];

        /// <summary>Reuses the image from an earlier run when its recipe and file are unchanged; generates it otherwise.</summary>
        private async Task ObtainAsync(ImageRecord rec, string stem, Func<CancellationToken, Task<GeneratedImage>> generate, string what)
        {
            _ct.ThrowIfCancellationRequested();
            var old = _cache.Values.FirstOrDefault(o => o.Recipe == rec.Recipe && o.File.StartsWith(stem + ".", StringComparison.Ordinal));
            if (old is not null && _folder.HashOf(old.File) == old.Sha256)
            {
                rec.File = old.File;
                rec.Sha256 = old.Sha256;
                if (old.ScoredBy == _owner._scorer.Model.Fingerprint && old.Mu is not null)
                {
                    rec.Mu = old.Mu;
                    rec.LogSigma = old.LogSigma;
                    rec.Sigma = old.Sigma;
                    rec.ScoredBy = old.ScoredBy;
                }

                _run.Counts.Reused++;
                Report($"{what}: reused {rec.File}", countImage: true);
                return;
            }

            var image = await generate(_ct).ConfigureAwait(false);
            rec.File = $"{stem}.{image.Extension ?? "png"}";
            _folder.WriteAtomic(rec.File, image.Bytes);
            rec.Sha256 = Hex(image.Bytes);
            _run.Counts.Generated++;
            Report($"{what}: {rec.File} (seed {rec.Seed})", countImage: true);
        }

        /// <summary>Scores the records that have no score yet, in one scorer call.</summary>
        private async Task ScoreAsync(List<ImageRecord> records)
        {
            var todo = records.Where(r => r.Mu is null).ToList();
            if (todo.Count == 0)
            {
                return;
            }

            var requests = todo.Select(r => new ScoreRequest(_prompt, ImageInput.FromPath(_folder.Full(r.File)))).ToList();
            var results = await _owner._scorer.ScoreAsync(requests, null, _ct).ConfigureAwait(false);
            for (int i = 0; i < todo.Count; i++)
            {
                if (results[i].Score is Score s)
                {
                    todo[i].Mu = s.Mu;
                    // A scorer without σ (a baseline, --scorer) gives point scores: no log σ or σ is recorded.
                    todo[i].LogSigma = s.HasUncertainty ? s.LogSigma : null;
                    todo[i].Sigma = s.HasUncertainty ? s.Sigma : null;
                    todo[i].ScoredBy = _owner._scorer.Model.Fingerprint;
                    todo[i].Error = null;
                }
                else
                {
                    todo[i].Error = "scoring failed: " + results[i].Error;
                }
            }

            _run.Counts.Scored += todo.Count;
            Save();
        }

        private void Save() => _folder.Save(_run);

        private void Report(string message, bool countImage)
        {
            if (countImage)
            {
                _done++;
            }

            _progress?.Report(new CohpProgress(_done, _total, message));
        }

        private static string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
    }
}
