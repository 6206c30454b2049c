using System.CommandLine;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Text;
using HpsSharp.Modeling;
using HpsSharp.Training;
using HpsSharp.Training.Checkpoints;
using HpsSharp.Training.Data;
using HpsSharp.Training.Hpsv3;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps train</c>: trains or fine-tunes an HPSv3 preference model on pairs (path1 preferred). Every option of
/// <see cref="TrainingOptions"/> is a command-line option of the same name; <c>--config FILE.json</c> supplies any of
/// them, and the command line overrides the file.
/// </summary>
public sealed class TrainCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var cmd = new Command("train", "Train or fine-tune a preference model on pairwise data (path1 preferred) with HPSv3's uncertainty-aware loss; writes a model folder that --model accepts");
        var config = new Option<string?>("--config") { Description = "JSON file with any of these options (names without the dashes); the command line overrides it" };
        var json = new Option<bool>("--json") { Description = "Print the run summary as one JSON document on stdout" };
        cmd.Options.Add(config);
        cmd.Options.Add(json);
        var options = new List<(PropertyInfo Property, string Name, Option Option)>();
        foreach (var p in typeof(TrainingOptions).GetProperties())
        {
            var name = p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name;
            if (name is null || p.GetCustomAttribute<JsonIgnoreAttribute>() is not null)
            {
                continue;
            }

            var help = TrainingOptions.Help.TryGetValue(name, out var h) ? h : name;
            Option o = p.PropertyType == typeof(bool)
                ? new Option<bool?>("--" + name) { Description = help, Arity = ArgumentArity.ZeroOrOne }
                : new Option<string?>("--" + name) { Description = help };
            cmd.Options.Add(o);
            options.Add((p, name, o));
        }

        cmd.SetAction((parse, ct) =>
        {
            TrainingOptions o;
            try
            {
                // Every problem with the options themselves (missing --data, a non-number, a negative rate) is a
                // usage error, exit 2, like the parser's own errors; files that cannot be read stay user errors.
                var merged = Merge(parse.GetValue(config), options.Select(x => (x.Property, x.Name, Value: Given(parse, x.Option, x.Property))));
                o = merged.Deserialize<TrainingOptions>(TrainingOptions.JsonOptions) ?? new TrainingOptions();
                o.Validate();
            }
            catch (JsonException ex)
            {
                throw new UsageException($"options: {ex.Message}", ex);
            }
            catch (UserInputException ex)
            {
                throw new UsageException(ex.Message, ex);
            }

            // Refuse a folder that holds another run (or a resume with other options) before loading anything.
            RunFolder.Prepare(o);
            return Task.FromResult(Run(env, o, parse.GetValue(json), ct));
        });
        return cmd;
    }

    private static object? Given(ParseResult parse, Option option, PropertyInfo property)
    {
        if (parse.GetResult(option) is null)
        {
            return null;
        }

        return property.PropertyType == typeof(bool)
            ? (parse.GetValue((Option<bool?>)option) ?? true)
            : parse.GetValue((Option<string?>)option);
    }

    /// <summary>Config file values, then command-line values, as one JSON object of options.</summary>
    private static JsonObject Merge(string? configFile, IEnumerable<(PropertyInfo Property, string Name, object? Value)> given)
    {
        var obj = new JsonObject();
        if (configFile is not null)
        {
            var cfg = TrainingOptions.FromJsonFile(configFile); // validates names and types with the file named
            obj = JsonNode.Parse(cfg.ToJson())!.AsObject();
            obj = ResolveRelative(obj, Path.GetDirectoryName(Path.GetFullPath(configFile))!, File.ReadAllText(configFile));
        }

        foreach (var (p, name, value) in given)
        {
            if (value is null)
            {
                continue;
            }

            obj[name] = ToNode(p.PropertyType, name, value);
        }

        return obj;
    }

    /// <summary>Paths in a config file are relative to the file (only those the file itself sets).</summary>
    private static JsonObject ResolveRelative(JsonObject obj, string dir, string rawText)
    {
        using var raw = JsonDocument.Parse(rawText, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        foreach (var key in new[] { "model", "data", "images", "eval-data", "eval-images", "out", "tokenizer" })
        {
            if (raw.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && !Path.IsPathRooted(v.GetString()!))
            {
                obj[key] = Path.GetFullPath(Path.Combine(dir, v.GetString()!));
            }
        }

        return obj;
    }

    private static JsonNode? ToNode(Type type, string name, object value)
    {
        if (value is bool b)
        {
            return JsonValue.Create(b);
        }

        var text = (string)value;
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(string))
        {
            return JsonValue.Create(text);
        }

        if (Nullable.GetUnderlyingType(type) is not null && text.Equals("null", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (t == typeof(int) || t == typeof(long))
        {
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
            {
                throw new UserInputException("--" + name, $"'{text}' is not a whole number");
            }

            return JsonValue.Create(l);
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            throw new UserInputException("--" + name, $"'{text}' is not a number");
        }

        return JsonValue.Create(d);
    }

    private static int Run(CliEnvironment env, TrainingOptions o, bool json, CancellationToken ct)
    {
        var report = new DataReport();
        var train = PairDataset.Load(o.Data!, o.PairFormat, o.Images, o.DataOptions, report);
        IReadOnlyList<PreferencePair>? eval = null;
        if (o.EvalData is not null)
        {
            eval = PairDataset.Load(o.EvalData, o.PairFormat, o.EvalImages ?? o.Images, o.DataOptions with { ConfidenceThreshold = null }, new DataReport());
        }

        var tokenizerDir = o.Tokenizer ?? o.Model!;
        var tokenizer = Qwen2Tokenizer.FromDirectory(tokenizerDir);
        var processor = new Qwen2VLImageProcessor(new ImageProcessorOptions(o.MinPixels, o.MaxPixels));
        using var model = Hpsv3Trainable.Open(o);
        var trainer = new PairwiseTrainer<Hpsv3Item, Hpsv3Batch>(model, new Hpsv3PairCollator(tokenizer, processor), o);
        var data = new TrainingData(o.Data!, train, report, o.EvalData, eval);
        env.Error.WriteLine($"train: {train.Count} pairs ({report.Rows} rows; {report.BelowConfidence} below confidence {o.ConfidenceThreshold?.ToString(CultureInfo.InvariantCulture) ?? "-"}, {report.NullConfidence} null confidence ({o.NullConfidence}), {report.BadRows} bad rows)"
            + (eval is null ? string.Empty : $"; eval: {eval.Count} pairs") + $"; loss {o.Loss}, {o.Dtype} on {o.Device}, seed {o.Seed}");

        var result = env.Interactive ? RunWithBar(env, trainer, data, ct) : RunPlain(env, trainer, data, ct);
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

    private static TrainingResult RunPlain(CliEnvironment env, PairwiseTrainer<Hpsv3Item, Hpsv3Batch> trainer, TrainingData data, CancellationToken ct)
    {
        var progress = new SyncProgress<TrainingProgress>(p =>
        {
            long every = Math.Max(1, p.TotalSteps / 20);
            if (p.Step % every == 0 || p.Step == p.TotalSteps)
            {
                env.Error.WriteLine(Line(p));
            }
        });
        return trainer.Run(data, progress, ct);
    }

    private static TrainingResult RunWithBar(CliEnvironment env, PairwiseTrainer<Hpsv3Item, Hpsv3Batch> trainer, TrainingData data, CancellationToken ct) =>
        env.ErrorConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training");
                return trainer.Run(data, new SyncProgress<TrainingProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.TotalSteps);
                    task.Value = p.Step;
                    task.Description = Markup.Escape(Line(p));
                }), ct);
            });

    private static string Line(TrainingProgress p)
    {
        var eval = p.EvalAccuracy is double e ? string.Create(CultureInfo.InvariantCulture, $" eval {e:F4}") : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{p.TotalSteps} epoch {p.Epoch} loss {p.Loss:F4} acc {p.Accuracy:F3} lr {p.LearningRate:E2} {p.PairsPerSecond:F2} pairs/s{eval}");
    }
}
