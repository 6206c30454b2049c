using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using HpsSharp.Core;
using HpsSharp.Training.Checkpoints;
using HpsSharp.Training.Data;
using HpsSharp.Training.Losses;
using HpsSharp.Training.Optim;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Training;

/// <summary>The pairs of a run: training pairs (already filtered) and optional held-out pairs.</summary>
public sealed record TrainingData(string Source, IReadOnlyList<PreferencePair> Train, DataReport Report, string? EvalSource = null, IReadOnlyList<PreferencePair>? Eval = null);

/// <summary>What a run did.</summary>
public sealed record TrainingResult(long Steps, long TotalSteps, IReadOnlyList<StepRecord> History, IReadOnlyList<EvalRecord> Evals,
    DataReport Report, string OutputFolder, string? LastCheckpoint, bool Finished, double PairsPerSecond);

/// <summary>
/// Trains a preference model on pairs with HPSv3's recipe: per-group AdamW (fp32 master weights), a warm-up
/// schedule, gradient accumulation (the loss of each micro-batch is divided by the accumulation count, as HF does),
/// global gradient clipping, only the &lt;|Reward|&gt; row of the embedding updated, periodic held-out accuracy,
/// atomic checkpoints that a resumed run continues exactly.
/// </summary>
public sealed partial class PairwiseTrainer<TItem, TSide>
    where TSide : IDisposable
{
    private readonly ITrainableModel<TSide> _model;
    private readonly IPairCollator<TItem, TSide> _collator;
    private readonly TrainingOptions _o;
    private readonly ILogger _log;

    public PairwiseTrainer(ITrainableModel<TSide> model, IPairCollator<TItem, TSide> collator, TrainingOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(collator);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(requirePaths: false);
        if (string.IsNullOrWhiteSpace(options.Out))
        {
            throw UserInputException.ForOption(nameof(TrainingOptions.Out), $"is required");
        }

        _model = model;
        _collator = collator;
        _o = options;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>Optimizer steps per epoch when no image is bad: ceil(ceil(pairs / batch) / accumulation).</summary>
    public static long StepsPerEpoch(long pairs, int batchSize, int accum) => (((pairs + batchSize - 1) / batchSize) + accum - 1) / accum;

    public TrainingResult Run(TrainingData data, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Train.Count == 0)
        {
            throw new UserInputException(data.Source, $"no training pairs left after filtering ({data.Report.Rows} rows, {data.Report.BelowConfidence} below the confidence threshold, {data.Report.BadRows} bad)");
        }

        var outDir = Path.GetFullPath(_o.Out!);
        RunFolder.Prepare(_o);
        Directory.CreateDirectory(outDir);
        long perEpoch = StepsPerEpoch(data.Train.Count, _o.BatchSize, _o.GradAccum);
        long total = _o.MaxSteps ?? perEpoch * _o.Epochs;
        var schedule = new LrSchedule(_o.Schedule, _o.WarmupSteps ?? LrSchedule.WarmupFromRatio(total, _o.WarmupRatio), total);

        using var optimizer = new AdamW(SelectParameters(), _o.AdamBeta1, _o.AdamBeta2, _o.AdamEps);
        using var loss = new PairLoss(_o.Loss, _o.Seed, _o.McSamples);
        var sampler = new PairSampler(data.Train.Count, _o.Seed);
        var batcher = new PairBatcher<TItem, TSide>(data.Source, data.Train, sampler, _collator, _o.BatchSize, _o.Strict, TieThresholdFor(_o.Loss), data.Report);

        var history = new List<StepRecord>();
        var evals = new List<EvalRecord>();
        long step = 0, pairsSeen = 0;
        string? resumedFrom = null;
        if (_o.Resume && CheckpointStore.Latest(outDir) is { } ckpt)
        {
            var st = CheckpointStore.ReadState(ckpt);
            CheckCompatible(st, ckpt, data.Train.Count);
            _model.LoadWeights(ckpt);
            optimizer.Load(Path.Combine(ckpt, CheckpointStore.OptimizerFile));
            if (st.TorchRng is { } r)
            {
                using var t = tensor(Convert.FromBase64String(r), dtype: ScalarType.Byte);
                torch.random.set_rng_state(t);
            }

            if (st.LossRng is { } lr && loss.Generator is { } g)
            {
                using var t = tensor(Convert.FromBase64String(lr), dtype: ScalarType.Byte);
                g.set_state(t);
            }

            step = st.Step;
            pairsSeen = st.PairsSeen;
            history.AddRange(st.History);
            evals.AddRange(st.Evals);
            data.Report.BadImages += st.BadImages;
            sampler.Seek(st.Epoch, st.Offset);
            resumedFrom = ckpt;
            LogResumed(_log, ckpt, step);
        }
        else
        {
            torch.random.manual_seed(_o.Seed);
        }

        var runInfo = RunInfo(data, resumedFrom);
        _model.Module.train();
        var clock = Stopwatch.StartNew();
        long pairsThisSession = 0;
        string? lastCheckpoint = null;
        bool finished = false;
        double? lastEval = evals.Count > 0 ? evals[^1].Accuracy : null;
        long epochPairs = sampler.Offset; // after a resume the epoch has already yielded pairs
        long skippedSteps = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (step >= total || (sampler.Epoch >= _o.Epochs))
            {
                finished = true;
                break;
            }

            // One optimizer step: up to GradAccum micro-batches, never across an epoch boundary.
            int micro = 0, pairs = 0, correct = 0;
            double lossSum = 0, sigmaSum = 0;
            while (micro < _o.GradAccum)
            {
                using var batch = batcher.Next();
                if (batch is null)
                {
                    if (micro > 0)
                    {
                        break;
                    }

                    if (epochPairs == 0 && sampler.Offset > 0)
                    {
                        throw new UserInputException(data.Source, $"none of the {sampler.Offset} pairs of epoch {sampler.Epoch} could be read" + FirstSkipped(data.Report));
                    }

                    sampler.NextEpoch();
                    epochPairs = 0;
                    if (sampler.Epoch >= _o.Epochs)
                    {
                        break;
                    }

                    continue;
                }

                using var scope = NewDisposeScope();
                var outA = _model.Forward(batch.A);
                var outB = _model.Forward(batch.B);
                var l = loss.Compute(outA, outB, batch.NontiedMask);
                (l / _o.GradAccum).backward();
                lossSum += l.ToDouble();
                using (no_grad())
                {
                    correct += (int)(outA[.., 0] > outB[.., 0]).sum().item<long>();
                    sigmaSum += (outA[.., 1].exp().sum() + outB[.., 1].exp().sum()).item<float>() / 2;
                }

                pairs += batch.Count;
                epochPairs += batch.Count;
                micro++;
            }

            if (micro == 0)
            {
                finished = true;
                break;
            }



            double norm = optimizer.GradientNorm();
            double scale = _o.MaxGradNorm > 0 ? Math.Min(1.0, _o.MaxGradNorm / (norm + 1e-6)) : 1.0;
            double factor = schedule.Factor(step);
            if (double.IsFinite(norm) && double.IsFinite(lossSum))
            {
                optimizer.Step(factor, scale);
            }
            else
            {
                // A non-finite gradient would turn every weight into NaN: skip the update (the step still counts, as
                // with AMP's overflow check) and say so.
                skippedSteps++;
                LogSkipped(_log, step + 1, norm, lossSum / micro);
            }

            optimizer.ZeroGrad();
            step++;
            pairsSeen += pairs;
            pairsThisSession += pairs;
            var rec = new StepRecord(step, sampler.Epoch, lossSum / micro, (double)correct / pairs, _o.LearningRate * factor, norm, sigmaSum / pairs);
            history.Add(rec);

            bool epochEnd = sampler.EndOfEpoch;
            if (data.Eval is { Count: > 0 } && ((_o.EvalEvery > 0 && step % _o.EvalEvery == 0) || (_o.EvalEvery == 0 && epochEnd) || step >= total))
            {
                var ev = Evaluate(data.EvalSource ?? "eval", data.Eval, step);
                evals.Add(ev);
                lastEval = ev.Accuracy;
                LogEval(_log, step, ev.Accuracy, ev.Pairs, ev.MeanSigma);
            }

            double pps = pairsThisSession / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            progress?.Report(new TrainingProgress(step, total, sampler.Epoch, rec.Loss, rec.Accuracy, rec.LearningRate, pps, lastEval));

            bool stop = _o.StopAfter is long sa && step >= sa;
            bool save = (_o.SaveEvery > 0 && step % _o.SaveEvery == 0) || (_o.SaveEvery == 0 && epochEnd) || stop || step >= total;
            if (save)
            {
                var state = new TrainerState
                {
                    Step = step,
                    TotalSteps = total,
                    Epoch = sampler.Epoch,
                    Offset = sampler.Offset,
                    PairsSeen = pairsSeen,
                    Seed = _o.Seed,
                    BadImages = data.Report.BadImages,
                    TorchRng = RngState(null),
                    LossRng = loss.Generator is { } g ? RngState(g) : null,
                    History = history.ToList(),
                    Evals = evals.ToList(),
                    Options = _o,
                };
                lastCheckpoint = CheckpointStore.Write(outDir, step, dir =>
                {
                    _model.Save(dir);
                    optimizer.Save(Path.Combine(dir, CheckpointStore.OptimizerFile));
                    AtomicFile.WriteAllText(Path.Combine(dir, CheckpointStore.StateFile), JsonSerializer.Serialize(state, TrainerState.Json));
                    AtomicFile.WriteAllText(Path.Combine(dir, CheckpointStore.RunFile), RunJson(runInfo, state, data.Report, finished: false));
                }, _o.SaveTotalLimit);
                LogCheckpoint(_log, lastCheckpoint);
            }

            if (stop)
            {
                break;
            }
        }

        double rate = pairsThisSession / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
        if (finished)
        {
            // The final model goes into OUT itself, so that OUT is a folder `hps score --model` accepts.
            _model.Save(outDir);
            var state = new TrainerState { Step = step, TotalSteps = total, Epoch = sampler.Epoch, Offset = sampler.Offset, PairsSeen = pairsSeen, Seed = _o.Seed, BadImages = data.Report.BadImages, History = history, Evals = evals, Options = _o };
            AtomicFile.WriteAllText(Path.Combine(outDir, CheckpointStore.RunFile), RunJson(runInfo, state, data.Report, finished: true));
        }

        return new TrainingResult(step, total, history, evals, data.Report, outDir, lastCheckpoint, finished, rate);
    }

    /// <summary>Held-out pairwise accuracy: share of pairs with μA &gt; μB (a tie counts as wrong).</summary>
    public EvalRecord Evaluate(string source, IReadOnlyList<PreferencePair> pairs, long step)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var report = new DataReport();
        var sampler = new PairSampler(pairs.Count, 0, shuffle: false);
        var batcher = new PairBatcher<TItem, TSide>(source, pairs, sampler, _collator, _o.EvalBatchSize, strict: false, null, report);
        bool wasTraining = _model.Module.training;
        _model.Module.eval();
        long n = 0, correct = 0;
        double sigma = 0, margin = 0;
        try
        {
            using var ng = no_grad();
            while (batcher.Next() is { } batch)
            {
                using (batch)
                {
                    using var scope = NewDisposeScope();
                    var a = _model.Forward(batch.A);
                    var b = _model.Forward(batch.B);
                    correct += (a[.., 0] > b[.., 0]).sum().item<long>();
                    sigma += (a[.., 1].exp().sum() + b[.., 1].exp().sum()).item<float>() / 2;
                    margin += (a[.., 0] - b[.., 0]).abs().sum().item<float>();
                    n += batch.Count;
                }
            }
        }
        finally
        {
            if (wasTraining)
            {
                _model.Module.train();
            }
        }

        if (n == 0 && pairs.Count > 0)
        {
            throw new UserInputException(source, $"none of the {pairs.Count} evaluation pairs could be read" + FirstSkipped(report));
        }

        return new EvalRecord(step, n == 0 ? 0 : (double)correct / n, n, n == 0 ? 0 : sigma / n, n == 0 ? 0 : margin / n);
    }

    private static string FirstSkipped(DataReport report) =>
        report.Skipped.Count > 0 ? $"; first error: row {report.Skipped[0].Row}: {report.Skipped[0].Reason}" : string.Empty;

    private List<OptimizedParameter> SelectParameters()
    {
        var list = new List<OptimizedParameter>();
        foreach (var (name, p) in _model.Module.named_parameters())
        {
            var group = ParameterGroups.Classify(name);
            bool trains = _o.Trains(group) && !(group == ParameterGroup.RewardEmbedding && _model.RewardRows.Count == 0);
            p.requires_grad_(trains);
            if (!trains)
            {
                continue;
            }

            double wd = ParameterGroups.Decays(name) ? _o.WeightDecay : 0;
            long[]? rows = group == ParameterGroup.RewardEmbedding ? _model.RewardRows.ToArray() : null;
            list.Add(new OptimizedParameter(name, p, group, _o.LearningRateOf(group), wd, rows));
        }

        if (list.Count == 0)
        {
            throw new UserInputException("freezing options", "every parameter is frozen: nothing to train");
        }

        return list;
    }

    private double? TieThresholdFor(LossKind kind) =>
        kind is LossKind.BradleyTerry or LossKind.BradleyTerryWithTies or LossKind.ConstantMargin ? _o.TieThreshold : null;

    private void CheckCompatible(TrainerState st, string ckpt, int trainCount)
    {
        var prev = st.Options;
        if (prev is null)
        {
            return;
        }

        RunFolder.CheckResumable(_o, prev, ckpt);
        if (st.Offset > trainCount)
        {
            throw UserInputException.ForOption(nameof(TrainingOptions.Data), $"the checkpoint {ckpt} is at pair {st.Offset} of its epoch but the data has only {trainCount} pairs: not the same data");
        }
    }

    private static string RngState(Generator? g)
    {
        using var t = g is null ? torch.random.get_rng_state() : g.get_state();
        return Convert.ToBase64String(t.data<byte>().ToArray());
    }

    private JsonObject RunInfo(TrainingData data, string? resumedFrom)
    {
        var asm = typeof(PairwiseTrainer<,>).Assembly;
        var version = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return new JsonObject
        {
            ["tool"] = "hpssharp",
            ["version"] = version,
            ["git_revision"] = plus >= 0 ? version[(plus + 1)..] : "unknown",
            ["started_utc"] = DateTime.UtcNow.ToString("O"),
            ["resumed_from"] = resumedFrom,
            ["seed"] = _o.Seed,
            ["options"] = JsonNode.Parse(_o.ToJson()),
            ["data"] = new JsonObject
            {
                ["source"] = data.Source,
                ["eval_source"] = data.EvalSource,
                ["train_pairs"] = data.Train.Count,
                ["eval_pairs"] = data.Eval?.Count ?? 0,
            },
            ["machine"] = $"{Environment.ProcessorCount} CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}",
        };
    }

    private static string RunJson(JsonObject info, TrainerState state, DataReport report, bool finished)
    {
        var o = (JsonObject)info.DeepClone();
        o["finished"] = finished;
        o["written_utc"] = DateTime.UtcNow.ToString("O");
        o["step"] = state.Step;
        o["total_steps"] = state.TotalSteps;
        o["epoch"] = state.Epoch;
        o["pairs_seen"] = state.PairsSeen;
        o["non_finite_steps"] = state.History.Count(h => !double.IsFinite(h.GradNorm) || !double.IsFinite(h.Loss));
        o["final_loss"] = state.History.Count > 0 && double.IsFinite(state.History[^1].Loss) ? state.History[^1].Loss : null;
        o["last_eval"] = state.Evals.Count > 0 ? JsonSerializer.SerializeToNode(state.Evals[^1], TrainerState.Json) : null;
        o["data_summary"] = new JsonObject
        {
            ["rows"] = report.Rows,
            ["kept"] = report.Kept,
            ["below_confidence"] = report.BelowConfidence,
            ["null_confidence"] = report.NullConfidence,
            ["missing_confidence"] = report.MissingConfidence,
            ["bad_rows"] = report.BadRows,
            ["bad_images"] = report.BadImages,
            ["skipped"] = JsonSerializer.SerializeToNode(report.Skipped.Select(s => new { file = s.File, row = s.Row, reason = s.Reason })),
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals });
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "resumed from {Checkpoint} at step {Step}")]
    private static partial void LogResumed(ILogger logger, string checkpoint, long step);

    [LoggerMessage(Level = LogLevel.Information, Message = "step {Step}: held-out accuracy {Accuracy:F4} on {Pairs} pairs, mean sigma {Sigma:F3}")]
    private static partial void LogEval(ILogger logger, long step, double accuracy, long pairs, double sigma);

    [LoggerMessage(Level = LogLevel.Warning, Message = "step {Step}: non-finite gradient norm {Norm} or loss {Loss}; update skipped")]
    private static partial void LogSkipped(ILogger logger, long step, double norm, double loss);

    [LoggerMessage(Level = LogLevel.Information, Message = "checkpoint written: {Path}")]
    private static partial void LogCheckpoint(ILogger logger, string path);
}
