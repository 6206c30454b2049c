using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Training;
using HpsSharp.Training.Checkpoints;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using HpsSharp.Training.Losses;
using Microsoft.Extensions.Configuration;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps train</c>: trains or fine-tunes an HPSv3 preference model on pairs (path1 preferred). Each property of
/// <see cref="TrainingOptions"/> is a command-line option (declared below, flags from <see cref="OptionFlags"/>);
/// <c>--config FILE.json</c> supplies any of them by configuration key (the flag without dashes). Both go through
/// Microsoft.Extensions.Configuration: the JSON file, then the command line over it, bound by
/// <see cref="TrainingOptions.FromConfiguration"/>.
/// </summary>
public sealed class TrainCommand : ICommandFactory
{
    /// <summary>Every training option: its field, whether it is a switch, and its help line.</summary>
    public static IReadOnlyList<(string Field, bool IsSwitch, string Help)> Options { get; } =
    [
        (nameof(TrainingOptions.Model), false, "Model folder to fine-tune (config.json, weights, tokenizer files); with --random-init only its config.json is used"),
        (nameof(TrainingOptions.RandomInit), true, "Start from random weights (seeded) built from the model folder's config.json"),
        (nameof(TrainingOptions.Data), false, "Training pairs; path1 is the preferred image"),
        (nameof(TrainingOptions.Format), false, "hpdv3 (one JSON array, as train.json/all.json) or jsonl (one pair per line, same keys)"),
        (nameof(TrainingOptions.Images), false, "Folder the image paths are relative to (default: the data file's folder)"),
        (nameof(TrainingOptions.EvalData), false, "Held-out pairs for periodic evaluation accuracy (same format)"),
        (nameof(TrainingOptions.EvalImages), false, "Image root of --eval-data (default: --images, else its folder)"),
        (nameof(TrainingOptions.Out), false, "Output folder: the final model (usable as --model) and checkpoints/"),
        (nameof(TrainingOptions.Resume), true, "Continue from the latest checkpoint in --out (same options)"),
        (nameof(TrainingOptions.Overwrite), true, "Start clean when --out holds another run (its checkpoints, run.json and weights are removed); without it such a folder is refused"),
        (nameof(TrainingOptions.Epochs), false, "Passes over the data (HPSv3 yaml: 10)"),
        (nameof(TrainingOptions.MaxSteps), false, "Total optimizer steps (overrides epochs for the schedule and the end)"),
        (nameof(TrainingOptions.StopAfter), false, "Stop after this many steps with a checkpoint, schedule unchanged (continue with --resume)"),
        (nameof(TrainingOptions.BatchSize), false, "Pairs per micro-batch (yaml: 2)"),
        (nameof(TrainingOptions.GradAccum), false, "Micro-batches per optimizer step (yaml: 4)"),
        (nameof(TrainingOptions.LearningRate), false, "Learning rate; default of every group (yaml: 2e-6)"),
        (nameof(TrainingOptions.VisionLr), false, "Learning rate of the vision tower (default: --lr)"),
        (nameof(TrainingOptions.MergerLr), false, "Learning rate of the vision merger (default: --lr)"),
        (nameof(TrainingOptions.HeadLr), false, "Learning rate of rm_head (default: --lr)"),
        (nameof(TrainingOptions.SpecialTokenLr), false, "Learning rate of the <|Reward|> embedding row (default: --lr)"),
        (nameof(TrainingOptions.WeightDecay), false, "AdamW decoupled weight decay (not on biases and LayerNorm weights; yaml: 0)"),
        (nameof(TrainingOptions.AdamBeta1), false, "AdamW beta1 (0.9)"),
        (nameof(TrainingOptions.AdamBeta2), false, "AdamW beta2 (0.999)"),
        (nameof(TrainingOptions.AdamEps), false, "AdamW epsilon (1e-8)"),
        (nameof(TrainingOptions.MaxGradNorm), false, "Clip the global gradient norm to this (1.0; 0 disables)"),
        (nameof(TrainingOptions.Schedule), false, "constant_with_warmup (yaml), cosine or constant"),
        (nameof(TrainingOptions.WarmupRatio), false, "Warm-up steps as a share of all steps (yaml: 0.05)"),
        (nameof(TrainingOptions.WarmupSteps), false, "Warm-up steps (overrides --warmup-ratio)"),
        (nameof(TrainingOptions.Loss), false, "uncertainty (deterministic quadrature, default), uncertainty-mc (the released code's 1000-sample Monte Carlo), bt, btt, margin, hpsv2"),
        (nameof(TrainingOptions.McSamples), false, "Samples per pair for uncertainty-mc (1000)"),
        (nameof(TrainingOptions.TieThreshold), false, "Pairs with |c1-c2|/(c1+c2) <= this are ties for bt, btt and margin (default: no ties)"),
        (nameof(TrainingOptions.ConfidenceThreshold), false, "Keep pairs with confidence >= this (yaml: 0.95); a pair without the key is kept"),
        (nameof(TrainingOptions.NullConfidence), false, "What \"confidence\": null does: keep (default, counted), drop, or error"),
        (nameof(TrainingOptions.Strict), true, "Stop at the first bad row or unreadable image instead of reporting and skipping it"),
        (nameof(TrainingOptions.FreezeVision), true, "Freeze the vision tower (the merger stays trainable)"),
        (nameof(TrainingOptions.FreezeDecoder), true, "Freeze the decoder layers and final norm"),
        (nameof(TrainingOptions.HeadOnly), true, "Train only rm_head (and the <|Reward|> row unless --train-reward-token false)"),
        (nameof(TrainingOptions.TrainRewardToken), true, "Train the <|Reward|> embedding row, the only embedding row HPSv3 changes (default true)"),
        (nameof(TrainingOptions.Seed), false, "The one seed: data order, dropout, Monte Carlo samples, random initialisation (42)"),
        (nameof(TrainingOptions.EvalEvery), false, "Evaluate every N steps (0: at the end of each epoch)"),
        (nameof(TrainingOptions.EvalBatchSize), false, "Pairs per evaluation batch (8)"),
        (nameof(TrainingOptions.SaveEvery), false, "Checkpoint every N steps (0: at the end of each epoch)"),
        (nameof(TrainingOptions.SaveTotalLimit), false, "Checkpoints kept (2)"),
        (nameof(TrainingOptions.Dtype), false, "bf16 (as HPSv3 trains: fp32 master weights and head) or fp32"),
        (nameof(TrainingOptions.Device), false, "cpu or cuda[:N]"),
        (nameof(TrainingOptions.MinPixels), false, "Image processor min_pixels (HPSv3: 200704)"),
        (nameof(TrainingOptions.MaxPixels), false, "Image processor max_pixels (HPSv3: 200704)"),
        (nameof(TrainingOptions.Lora), true, "Train LoRA adapters (base weights frozen and memory-mapped) plus rm_head and the <|Reward|> row; writes a PEFT adapter folder (use a larger --lr, e.g. 1e-4)"),
        (nameof(TrainingOptions.LoraR), false, "LoRA rank (HPSv3 default: 16)"),
        (nameof(TrainingOptions.LoraAlpha), false, "LoRA alpha; updates are scaled by alpha/r (HPSv3 default: 32)"),
        (nameof(TrainingOptions.LoraDropout), false, "Dropout on each adapter's input (HPSv3 default: 0.05)"),
        (nameof(TrainingOptions.LoraTargets), false, "Adapted layers: comma list of decoder (default: every Linear of the decoder layers), vision, merger, or module names such as q_proj,v_proj"),
        (nameof(TrainingOptions.GradientCheckpointing), true, "Recompute each decoder layer and vision block during backward instead of storing activations (same gradients, less memory, ~1/3 more compute)"),
        (nameof(TrainingOptions.HeadDropout), false, "Dropout of rm_head while training (released: 0.05; 0 = deterministic steps)"),
        (nameof(TrainingOptions.Tokenizer), false, "Folder with the tokenizer files when the model folder has none"),
    ];

    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var cmd = new Command("train", "Train or fine-tune a preference model on pairwise data (path1 preferred) with HPSv3's uncertainty-aware loss; writes a model folder that --model accepts");
        var config = new Option<string?>("--config") { Description = "JSON file with any of these options (names without the dashes); the command line overrides it" };
        var json = new Option<bool>("--json") { Description = "Print the run summary as one JSON document on stdout" };
        cmd.Options.Add(config);
        cmd.Options.Add(json);
        var options = new List<(string Field, Option Option)>();
        foreach (var (field, isSwitch, help) in Options)
        {
            // Values stay text here: TrainingOptions.FromConfiguration types them with one-line errors naming the
            // option (and "null" clears a nullable one), the same for the command line and the file.
            Option o = isSwitch
                ? new Option<bool?>(OptionFlags.Of(field)) { Description = help, Arity = ArgumentArity.ZeroOrOne }
                : new Option<string?>(OptionFlags.Of(field)) { Description = help };
            cmd.Options.Add(o);
            options.Add((field, o));
        }

        cmd.SetAction((parse, ct) =>
        {
            TrainingOptions o;
            var configFile = parse.GetValue(config);
            try
            {
                // Every problem with the options themselves (missing --data, a non-number, a negative rate, an
                // unknown key in the file) is a usage error, exit 2, like the parser's own errors; files that cannot
                // be read stay user errors.
                if (configFile is not null)
                {
                    CheckConfigFile(configFile);
                }

                o = Bind(configFile, options.Select(x => (x.Field, Given(parse, x.Option))));
                o.Validate();
            }
            catch (UserInputException ex)
            {
                throw new UsageException(OptionFlags.Describe(ex), ex);
            }

            // Refuse a folder that holds another run (or a resume with other options) before loading anything.
            RunFolder.Prepare(o);
            return Task.FromResult(Run(env, o, parse.GetValue(json), ct));
        });
        return cmd;
    }

    /// <summary>The configuration file alone, so that its mistakes are reported with the file named.</summary>
    private static void CheckConfigFile(string path)
    {
        try
        {
            _ = TrainingOptions.FromJsonFile(path);
        }
        catch (UserInputException ex) when (ex.Field is not null)
        {
            throw new UsageException($"{OptionFlags.Describe(ex)} (in {path})", ex);
        }
    }

    /// <summary>Defaults, then the configuration file, then the command line (as <c>--key=value</c> for the command-line provider).</summary>
    private static TrainingOptions Bind(string? configFile, IEnumerable<(string Field, string? Value)> given)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            builder.AddTrainingJsonFile(configFile);
        }

        var args = given.Where(g => g.Value is not null).Select(g => $"--{TrainingOptions.KeyOfField[g.Field]}={g.Value}").ToArray();
        return TrainingOptions.FromConfiguration(builder.AddCommandLine(args).Build());
    }

    private static string? Given(ParseResult parse, Option option)
    {
        if (parse.GetResult(option) is null)
        {
            return null;
        }

        return option is Option<bool?> flag
            ? ((parse.GetValue(flag) ?? true) ? "true" : "false")
            : parse.GetValue((Option<string?>)option);
    }

    private static int Run(CliEnvironment env, TrainingOptions o, bool json, CancellationToken ct)
    {
        var report = new DataReport();
        var train = PairDataset.Load(o.Data!, o.Format, o.Images, o.DataOptions, report);
        IReadOnlyList<PreferencePair>? eval = null;
        if (o.EvalData is not null)
        {
            eval = PairDataset.Load(o.EvalData, o.Format, o.EvalImages ?? o.Images, o.DataOptions with { ConfidenceThreshold = null }, new DataReport());
        }

        var tokenizerDir = o.Tokenizer ?? o.Model!;
        var tokenizer = Qwen2Tokenizer.FromDirectory(tokenizerDir);
        var processor = new Qwen2VLImageProcessor(new ImageProcessorOptions(o.MinPixels, o.MaxPixels));
        using var model = Hpsv3Trainable.Open(o);
        var trainer = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, new Hpsv3PairCollator(tokenizer, processor), o);
        var data = new TrainingData(o.Data!, train, report, o.EvalData, eval);
        env.Error.WriteLine($"train: {train.Count} pairs ({report.Rows} rows; {report.BelowConfidence} below confidence {o.ConfidenceThreshold?.ToString(CultureInfo.InvariantCulture) ?? "-"}, {report.NullConfidence} null confidence ({PairSpellings.NullConfidence.Name(o.NullConfidence)}), {report.BadRows} bad rows)"
            + (eval is null ? string.Empty : $"; eval: {eval.Count} pairs") + $"; loss {PairLoss.Name(o.Loss)}, {o.Dtype.Name()} on {o.Device}, seed {o.Seed}");

        var result = RunWithProgress(env, trainer, data, ct);
        if (json)
        {
            var summary = new JsonObject
            {
                ["out"] = result.OutputFolder,
                ["finished"] = result.Finished,
                ["steps"] = result.Steps,
                ["total_steps"] = result.TotalSteps,
                ["final_loss"] = result.History.Count > 0 ? result.History[^1].Loss : null,
                ["eval_accuracy"] = result.Evals.Count > 0 ? result.Evals[^1].Accuracy : null,
                ["pairs_per_second"] = result.PairsPerSecond,
                ["checkpoint"] = result.LastCheckpoint,
                ["data"] = new JsonObject
                {
                    ["rows"] = report.Rows,
                    ["kept"] = report.Kept,
                    ["below_confidence"] = report.BelowConfidence,
                    ["null_confidence"] = report.NullConfidence,
                    ["bad_rows"] = report.BadRows,
                    ["bad_images"] = report.BadImages,
                },
            };
            env.Out.WriteLine(summary.ToJsonString(CliJson.Serializer));
        }
        else
        {
            env.Out.WriteLine(result.Finished ? $"trained {result.Steps} steps: {result.OutputFolder}" : $"stopped at step {result.Steps} of {result.TotalSteps}: {result.LastCheckpoint} (continue with --resume)");
            if (result.Evals.Count > 0)
            {
                env.Out.WriteLine($"held-out accuracy {result.Evals[^1].Accuracy.ToString("F4", CultureInfo.InvariantCulture)} on {result.Evals[^1].Pairs} pairs (ties count as wrong)");
            }

            env.Out.WriteLine($"data: {report.Kept} pairs kept of {report.Rows} rows, {report.BelowConfidence} below confidence, {report.NullConfidence} null confidence, {report.BadRows} bad rows, {report.BadImages} unreadable images");
        }

        foreach (var s in report.Skipped.Take(10))
        {
            env.Error.WriteLine($"skipped {s.File} row {s.Row}: {s.Reason}");
        }

        return CliApp.Ok;
    }

    /// <summary>A bar whose label is the current step on a terminal; otherwise a step line every twentieth of the run and at its end.</summary>
    private static TrainingResult RunWithProgress(CliEnvironment env, PairwiseTrainer<Hpsv3Item, Hpsv3Batch> trainer, TrainingData data, CancellationToken ct) =>
        ProgressReporter.Run(env, new ProgressView<TrainingProgress>
        {
            Title = "training",
            Label = Line,
            Done = p => p.Step,
            Total = p => p.TotalSteps,
            Line = (p, _) => p.Step % Math.Max(1, p.TotalSteps / 20) == 0 || p.Step == p.TotalSteps ? Line(p) : null,
        }, p => trainer.Run(data, p, ct));

    private static string Line(TrainingProgress p)
    {
        var eval = p.EvalAccuracy is double e ? string.Create(CultureInfo.InvariantCulture, $" eval {e:F4}") : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{p.TotalSteps} epoch {p.Epoch} loss {p.Loss:F4} acc {p.Accuracy:F3} lr {p.LearningRate:E2} {p.PairsPerSecond:F2} pairs/s{eval}");
    }
}
