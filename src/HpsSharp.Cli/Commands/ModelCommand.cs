using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Safetensors;
using HpsSharp.Hub;
using HpsSharp.Hub.Checkpoints;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps model download | inspect | convert</c>: get the released checkpoint, check a checkpoint, convert layouts.</summary>
public sealed class ModelCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var cmd = new Command("model", "Get HPSv3 and its Qwen2-VL base files from a Hugging Face hub; list and check a checkpoint's tensors; convert layouts");
        cmd.Subcommands.Add(Download(env));
        cmd.Subcommands.Add(Inspect(env));
        cmd.Subcommands.Add(Convert(env));
        cmd.Subcommands.Add(MergeLora(env));
        return cmd;
    }

    private static Command MergeLora(CliEnvironment env)
    {
        var run = new Argument<string>("RUN") { Description = "A LoRA adapter folder (the output of hps train --lora: adapter_config.json + adapter_model.safetensors)" };
        var output = new Option<string>("--out") { Description = "Folder for the merged model (model.safetensors in the official layout, config and tokenizer files)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Backbone dtype of the merged weights: bf16 (as released) or fp32; rm_head stays F32", DefaultValueFactory = _ => "bf16" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace weights already in the output folder" };
        dtype.AcceptOnlyFromAmong("bf16", "fp32");
        var cmd = new Command("merge-lora", "Fold a LoRA adapter into its base model and write a complete checkpoint in the official layout (scores equal base + adapter)")
        {
            run, output, dtype, overwrite,
        };
        cmd.SetAction((parse, ct) =>
        {
            var r = HpsSharp.Training.Hpsv3.LoraMerge.Merge(parse.GetValue(run)!, parse.GetValue(output)!, parse.GetValue(dtype)!, parse.GetValue(overwrite));
            env.Error.WriteLine($"merged {r.AdaptedLayers} adapted layers into {r.BaseModel} ({r.Dtype})");
            env.Out.WriteLine(r.OutputDir);
            return Task.FromResult(CliApp.Ok);
        });
        return cmd;
    }

    private static Command Inspect(CliEnvironment env)
    {
        var path = new Argument<string>("PATH") { Description = "A .safetensors file, a model.safetensors.index.json, or a model folder" };
        var json = new Option<bool>("--json") { Description = "Print the report as one JSON document on stdout" };
        var summary = new Option<bool>("--summary") { Description = "Leave out the per-tensor table (and the tensors array with --json)" };
        var cmd = new Command("inspect", "List a checkpoint's tensors (headers only), detect its architecture and key layout, and check it against the HPSv3-7B tensor table")
        {
            path, json, summary,
        };
        cmd.SetAction(parse =>
        {
            var report = CheckpointInspector.Inspect(parse.GetValue(path)!);
            if (parse.GetValue(json))
            {
                env.Out.WriteLine(report.ToJson(includeTensors: !parse.GetValue(summary)));
                return CliApp.Ok;
            }

            if (!parse.GetValue(summary))
            {
                WriteTensorTable(env, report);
            }

            Say(env, "weights", report.WeightsSource + (report.Files.Count > 1 ? $" ({report.Files.Count} shards)" : string.Empty));
            Say(env, "tensors", $"{report.Tensors.Count}, {report.Parameters.ToString("N0", CultureInfo.InvariantCulture)} parameters, {Bytes(report.TotalBytes)}");
            Say(env, "dtypes", string.Join(", ", report.Dtypes.Select(d => $"{d.Dtype} × {d.Count} ({Bytes(d.Bytes)})")));
            Say(env, "layout", LayoutText(report.Layout));
            Say(env, "architecture", report.Architecture.Describe());
            var (released, why) = ReleasedVerdict(report);
            Say(env, "released HPSv3", why, released ? "green" : "yellow", released ? "yes" : "no");
            WriteCheck(env, report.Released);
            if (report.Config is not null)
            {
                WriteCheck(env, report.Config);
                if (!report.Released.Ok && report.Config.Ok)
                {
                    Say(env, "note", "not the released HPSv3-7B: a model of other dimensions, consistent with its config.json");
                }
            }

            return CliApp.Ok;
        });
        return cmd;
    }

    /// <summary>The plain answer to "is this the released HPSv3?" and why (see <see cref="CheckpointReport.IsReleasedHpsv3"/>).</summary>
    internal static (bool Released, string Why) ReleasedVerdict(CheckpointReport report)
    {
        if (report.IsReleasedHpsv3)
        {
            return (true, $"— {Hpsv3Layout.ReleasedFileName} with the released tensors, shapes, dtypes and layout (headers checked; the values are not hashed)");
        }

        if (report.Released.MatchesRelease)
        {
            return (false, $"— the released tensor table, but in {string.Join(", ", report.Files.Select(Path.GetFileName))}, not one {Hpsv3Layout.ReleasedFileName} (a fine-tune or a copy; scores are labelled as not the released model)");
        }

        return report.Released.Ok
            ? (false, "— HPSv3-7B tensors with a different layout or dtypes than the release (convert it, or treat it as another model)")
            : (false, "— not the HPSv3-7B tensor table (see the check below); its scores are not HPSv3 preference scores");
    }

    private static string LayoutText(Hpsv3KeyLayout layout) => layout switch
    {
        Hpsv3KeyLayout.Flat => "flat (visual.*, model.*: transformers ≤ 4.51, as released)",
        Hpsv3KeyLayout.Nested => "language_model (model.visual.*, model.language_model.*: transformers ≥ 4.52)",
        Hpsv3KeyLayout.Mixed => "mixed (both spellings: not loadable as is)",
        _ => "unknown (no Qwen2-VL keys)",
    };

    /// <summary>A labelled line: bold label on a terminal, plain "label: text" when redirected (no wrapping at 80 columns).</summary>
    private static void Say(CliEnvironment env, string label, string text, string? colour = null, string? coloured = null)
    {
        if (env.Interactive)
        {
            var head = coloured is null ? string.Empty : $"[{colour}]{Markup.Escape(coloured)}[/] ";
            env.Console.MarkupLine($"[bold]{Markup.Escape(label)}:[/] {head}{Markup.Escape(text)}");
        }
        else
        {
            env.Out.WriteLine($"{label}: {(coloured is null ? string.Empty : coloured + " ")}{text}");
        }
    }

    private static void WriteTensorTable(CliEnvironment env, CheckpointReport report)
    {
        bool sharded = report.Files.Count > 1;
        var rows = report.Tensors.Select(t => sharded
            ? new[] { t.Name, t.Dtype, CheckpointInspector.Shape(t.Shape), Bytes(t.Bytes), t.File }
            : new[] { t.Name, t.Dtype, CheckpointInspector.Shape(t.Shape), Bytes(t.Bytes) }).ToList();
        string[] header = sharded ? ["name", "dtype", "shape", "bytes", "file"] : ["name", "dtype", "shape", "bytes"];
        if (env.Interactive)
        {
            var table = new Table().AddColumns(header);
            table.Columns[3].RightAligned();
            table.Columns[0].NoWrap();
            foreach (var row in rows)
            {
                table.AddRow(row.Select(Markup.Escape).ToArray());
            }

            env.Console.Write(table);
            return;
        }

        // Redirected: aligned plain columns, one tensor per line, easy to grep.
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => i == 3 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd();
        env.Out.WriteLine(Line(header));
        foreach (var row in rows)
        {
            env.Out.WriteLine(Line(row));
        }

        env.Out.WriteLine();
    }

    private static void WriteCheck(CliEnvironment env, LayoutCheckReport r)
    {
        const int Shown = 12;
        var expected = Hpsv3Layout.ExpectedTensors(r.Dimensions).Count;
        var label = $"check vs {r.Against}";
        if (r.Ok)
        {
            var note = r.MatchesRelease && r.Dimensions == Hpsv3Dimensions.Released7B ? "matches the released file (keys, shapes, dtypes, layout)"
                : r.MatchesRelease ? "keys, dtypes and layout as released, at this config's dimensions"
                : r.DtypeDifferences.Count > 0 ? $"loadable; {r.DtypeDifferences.Count} dtype(s) differ from the release (BF16 backbone, F32 head)"
                : "loadable; keys in another layout than the release";
            Say(env, label, $"— all {expected} tensors present with their shapes; {note}", "green", "OK");
            return;
        }

        Say(env, label, $"— {r.Check.Missing.Count} missing, {r.Check.Unexpected.Count} unexpected, {r.Check.Mismatched.Count} wrong shape/dtype (of {expected} expected)", "red", "does not match");
        void List(string title, IReadOnlyList<string> items)
        {
            if (items.Count == 0)
            {
                return;
            }

            env.Out.WriteLine($"  {title}:");
            foreach (var i in items.Take(Shown))
            {
                env.Out.WriteLine($"    {i}");
            }

            if (items.Count > Shown)
            {
                env.Out.WriteLine($"    … and {items.Count - Shown} more (--json lists all)");
            }
        }

        List("missing", r.Check.Missing);
        List("unexpected", r.Check.Unexpected);
        List("wrong shape/dtype", r.Check.Mismatched.Select(m => m.ToString()).ToList());
    }

    private static Command Convert(CliEnvironment env)
    {
        var input = new Argument<string>("INPUT") { Description = "A .safetensors file, a model.safetensors.index.json, or a model folder" };
        var output = new Option<string>("--out") { Description = "Output: a .safetensors file name, or a folder (model.safetensors, or shards + index; config/tokenizer files are copied)", Required = true };
        var layout = new Option<string>("--layout") { Description = "Key layout: keep, flat (visual.*/model.*, as released) or language_model (model.visual.*/model.language_model.*)", DefaultValueFactory = _ => "keep" };
        var dtype = new Option<string>("--dtype") { Description = "keep, bf16 (backbone; rm_head stays F32) or fp32", DefaultValueFactory = _ => "keep" };
        var shardSize = new Option<string?>("--shard-size") { Description = "Split into shards of at most this size (e.g. 5GB) with a model.safetensors.index.json" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace weights already in the output folder" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print what would be written (from headers only) and stop" };
        var json = new Option<bool>("--json") { Description = "Print the written files as one JSON document on stdout" };
        layout.AcceptOnlyFromAmong("keep", "flat", "language_model");
        dtype.AcceptOnlyFromAmong("keep", "bf16", "fp32");
        var cmd = new Command("convert", "Convert a checkpoint between the flat and model.language_model.* layouts, bf16/fp32, one file and shards (streaming, bounded memory)")
        {
            input, output, layout, dtype, shardSize, overwrite, dryRun, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var options = new ConvertOptions
            {
                Layout = parse.GetValue(layout) switch { "flat" => TargetLayout.Flat, "language_model" => TargetLayout.LanguageModel, _ => TargetLayout.Keep },
                Dtype = parse.GetValue(dtype) switch { "bf16" => TargetDtype.BF16, "fp32" => TargetDtype.F32, _ => TargetDtype.Keep },
                MaxShardBytes = parse.GetValue(shardSize) is { } s ? CheckpointConverter.ParseSize(s) : null,
                Overwrite = parse.GetValue(overwrite),
            };
            var source = parse.GetValue(input)!;
            var target = parse.GetValue(output)!;
            ConvertPlan plan;
            if (parse.GetValue(dryRun))
            {
                using var model = SafetensorsModel.Open(source);
                plan = CheckpointConverter.Plan(model, target, options);
            }
            else
            {
                plan = await RunConvertAsync(env, p => CheckpointConverter.Convert(source, target, options, p, ct)).ConfigureAwait(false);
            }

            if (parse.GetValue(json))
            {
                env.Out.WriteLine(ConvertJson(plan, parse.GetValue(dryRun)));
                return CliApp.Ok;
            }

            foreach (var shard in plan.Shards)
            {
                env.Error.WriteLine($"{(parse.GetValue(dryRun) ? "would write" : "wrote")} {Path.Combine(plan.OutputDir, shard.FileName)}: {shard.Tensors.Count} tensors, {Bytes(shard.Bytes)}");
            }

            if (plan.IndexFile is not null)
            {
                env.Error.WriteLine($"{(parse.GetValue(dryRun) ? "would write" : "wrote")} {Path.Combine(plan.OutputDir, plan.IndexFile)}");
            }

            if (plan.SideFiles.Count > 0)
            {
                env.Error.WriteLine($"{(parse.GetValue(dryRun) ? "would copy" : "copied")} {string.Join(", ", plan.SideFiles)}");
            }

            env.Out.WriteLine(plan.Shards.Count == 1 && plan.IndexFile is null && plan.SideFiles.Count == 0
                ? Path.Combine(plan.OutputDir, plan.Shards[0].FileName)
                : plan.OutputDir);
            return CliApp.Ok;
        });
        return cmd;
    }

    internal static string ConvertJson(ConvertPlan plan, bool dryRun)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, CliJson.Indented))
        {
            w.WriteStartObject();
            w.WriteBoolean("dry_run", dryRun);
            w.WriteString("output_dir", plan.OutputDir);
            w.WriteNumber("tensors", plan.TensorCount);
            w.WriteNumber("total_bytes", plan.TotalBytes);
            w.WriteStartArray("files");
            foreach (var s in plan.Shards)
            {
                w.WriteStartObject();
                w.WriteString("file", s.FileName);
                w.WriteNumber("tensors", s.Tensors.Count);
                w.WriteNumber("bytes", s.Bytes);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (plan.IndexFile is null)
            {
                w.WriteNull("index");
            }
            else
            {
                w.WriteString("index", plan.IndexFile);
            }

            w.WriteStartArray("copied");
            foreach (var f in plan.SideFiles)
            {
                w.WriteStringValue(f);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static async Task<ConvertPlan> RunConvertAsync(CliEnvironment env, Func<IProgress<ConvertProgress>, ConvertPlan> work)
    {
        if (env.Interactive)
        {
            return await env.ErrorConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                    new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask("converting");
                    var progress = new SyncProgress<ConvertProgress>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.TotalBytes);
                        task.Value = p.BytesDone;
                    });
                    return await Task.Run(() => work(progress)).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }

        var gate = new DecileGate();
        var plain = new SyncProgress<ConvertProgress>(p =>
        {
            if (gate.Next(p.BytesDone, p.TotalBytes))
            {
                env.Error.WriteLine($"converting: {Bytes(p.BytesDone)} / {Bytes(p.TotalBytes)}");
            }
        });
        return await Task.Run(() => work(plain)).ConfigureAwait(false);
    }

    private static Command Download(CliEnvironment env)
    {
        var repo = new Option<string>("--repo") { Description = "Repository of the HPSv3 weights", DefaultValueFactory = _ => ModelDownloader.HpsRepo };
        var revision = new Option<string>("--revision") { Description = "Branch, tag or commit of --repo", DefaultValueFactory = _ => "main" };
        var baseRepo = new Option<string>("--base-repo") { Description = "Repository of the config, tokenizer and processor files (never its weights)", DefaultValueFactory = _ => ModelDownloader.QwenRepo };
        var baseRevision = new Option<string>("--base-revision") { Description = "Branch, tag or commit of --base-repo", DefaultValueFactory = _ => "main" };
        var output = new Option<string?>("--out") { Description = "Folder to assemble (default: $HF_HOME/hpssharp/models/hpsv3-<commit>-...)" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Hub cache folder (default: HF_HUB_CACHE, else $HF_HOME/hub)" };
        var endpoint = new Option<string?>("--endpoint") { Description = "Hub URL (default: HF_ENDPOINT, else https://huggingface.co)" };
        var token = new Option<string?>("--token") { Description = "Access token (default: HF_TOKEN, else $HF_HOME/token)" };
        var offline = new Option<bool>("--offline") { Description = "Use the cache only, no network (also HF_HUB_OFFLINE=1)" };
        var verify = new Option<bool>("--verify") { Description = "Also hash files already in the cache against the hub's checksums" };
        var json = new Option<bool>("--json") { Description = "Print {\"model_dir\": ...} as one JSON document on stdout" };
        var scorer = new Option<string>("--scorer") { Description = "Which scorer's folder to assemble: hpsv3 (default), pickscore, hpsv2, hpsv2.1, imagereward, clipscore (from its hub repository; --repo overrides it)", DefaultValueFactory = _ => "hpsv3" };
        scorer.AcceptOnlyFromAmong([.. HpsSharp.Modeling.Scorers.ScorerRegistry.Names]);
        var cmd = new Command("download", "Download HPSv3.safetensors and the Qwen2-VL-7B-Instruct config/tokenizer/processor files (or a baseline's hub files with --scorer) into the Hugging Face cache and print the model folder")
        {
            repo, revision, baseRepo, baseRevision, output, cacheDir, endpoint, token, offline, verify, json, scorer,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var options = HubOptions.FromEnvironment();
            if (parse.GetValue(cacheDir) is { } cache)
            {
                options = options with { CacheDir = Path.GetFullPath(cache) };
            }

            if (parse.GetValue(endpoint) is { } ep)
            {
                options = options with { Endpoint = ep.TrimEnd('/') };
            }

            if (parse.GetValue(token) is { } tk)
            {
                options = options with { Token = tk };
            }

            if (parse.GetValue(offline))
            {
                options = options with { Offline = true };
            }

            var request = new ModelDownloadOptions
            {
                Repo = parse.GetValue(repo)!,
                Revision = parse.GetValue(revision)!,
                BaseRepo = parse.GetValue(baseRepo)!,
                BaseRevision = parse.GetValue(baseRevision)!,
                OutputDir = parse.GetValue(output),
                Verify = parse.GetValue(verify),
            };
            env.Error.WriteLine($"hub: {options.Endpoint}{(options.Offline ? " (offline)" : string.Empty)}, cache: {options.CacheDir}");
            using var client = new HubClient(options);
            var scorerName = HpsSharp.Modeling.Scorers.ScorerRegistry.Find(parse.GetValue(scorer)!).Name;
            if (scorerName != HpsSharp.Modeling.Scorers.ScorerRegistry.Default)
            {
                return await DownloadBaselineAsync(env, client, scorerName, parse.GetResult(repo) is { Implicit: false } ? request.Repo : null, request, parse.GetValue(json), ct).ConfigureAwait(false);
            }

            var result = await RunWithProgressAsync(env, p => ModelDownloader.DownloadAsync(client, request, p, ct)).ConfigureAwait(false);
            foreach (var missing in result.Missing)
            {
                env.Error.WriteLine($"note: {request.BaseRepo} has no {missing} at this revision (optional)");
            }

            if (parse.GetValue(json))
            {
                env.Out.WriteLine(DownloadJson(result));
            }
            else
            {
                env.Error.WriteLine($"{request.Repo}@{result.Commit[..12]} + {request.BaseRepo}@{result.BaseCommit[..12]}: {result.Files.Count} files, {Bytes(result.Files.Sum(f => f.Size))}; pass this folder to --model:");
                env.Out.WriteLine(result.ModelDir);
            }

            return CliApp.Ok;
        });
        return cmd;
    }

    /// <summary>
    /// <c>--scorer X</c>: the registry's hub repository and files for X, linked into a folder laid out as the
    /// scorer's loader reads it. The CLIP vocabulary (<c>bpe_simple_vocab_16e6.txt.gz</c>) and BERT's vocabulary are
    /// not in these repositories: the note says to pass <c>--tokenizer DIR</c> or copy them in.
    /// </summary>
    private static async Task<int> DownloadBaselineAsync(CliEnvironment env, HubClient client, string name, string? repoOverride, ModelDownloadOptions request, bool json, CancellationToken ct)
    {
        var d = HpsSharp.Modeling.Scorers.ScorerRegistry.Find(name);
        if (name == "aesthetic")
        {
            throw new HpsSharp.Core.UserInputException("--scorer", "the aesthetic predictor's sac+logos+ava1-l14-linearMSE.pth is published on GitHub (christophschuhmann/improved-aesthetic-predictor), not on the hub; put it in a folder beside clip/, which `hps model download --scorer clipscore --out DIR/clip` assembles");
        }

        var repo = repoOverride ?? d.HubRepository;
        var result = await RunWithProgressAsync(env, p => ModelDownloader.DownloadFilesAsync(client, name, repo, request.Revision, d.Files, request.OutputDir, request.Verify, p, ct)).ConfigureAwait(false);
        env.Error.WriteLine(name == "imagereward"
            ? "note: add BERT's vocab.txt + added_tokens.json to the folder, or pass --tokenizer DIR when scoring"
            : "note: add bpe_simple_vocab_16e6.txt.gz (the CLIP vocabulary, shipped with open_clip) to the folder, or pass --tokenizer DIR when scoring");
        if (json)
        {
            env.Out.WriteLine(DownloadJson(result));
        }
        else
        {
            env.Error.WriteLine($"{repo}@{result.Commit[..12]}: {result.Files.Count} files, {Bytes(result.Files.Sum(f => f.Size))}; pass this folder to --scorer {name} --model:");
            env.Out.WriteLine(result.ModelDir);
        }

        return CliApp.Ok;
    }

    internal static string DownloadJson(ModelDownloadResult result)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, CliJson.Indented))
        {
            w.WriteStartObject();
            w.WriteString("model_dir", result.ModelDir);
            w.WriteString("commit", result.Commit);
            w.WriteString("base_commit", result.BaseCommit);
            w.WriteStartArray("files");
            foreach (var f in result.Files)
            {
                w.WriteStartObject();
                w.WriteString("repo", f.Repo);
                w.WriteString("file", f.File);
                w.WriteString("path", f.SnapshotPath);
                w.WriteNumber("size", f.Size);
                w.WriteBoolean("downloaded", f.Downloaded);
                w.WriteBoolean("verified", f.Verified);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("missing_optional");
            foreach (var m in result.Missing)
            {
                w.WriteStringValue(m);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>A progress bar per file with bytes, rate and ETA on a terminal; plain lines on stderr otherwise.</summary>
    private static async Task<T> RunWithProgressAsync<T>(CliEnvironment env, Func<IProgress<DownloadProgress>, Task<T>> work)
    {
        if (env.Interactive)
        {
            return await env.ErrorConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(),
                    new TransferSpeedColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                    var progress = new SyncProgress<DownloadProgress>(p =>
                    {
                        var key = p.Repo + "/" + p.File;
                        if (!tasks.TryGetValue(key, out var task))
                        {
                            task = ctx.AddTask(Markup.Escape(p.File), maxValue: Math.Max(1, p.TotalBytes ?? 1));
                            tasks[key] = task;
                        }

                        if (p.TotalBytes is { } total)
                        {
                            task.MaxValue = Math.Max(1, total);
                        }

                        task.Description = Markup.Escape(p.File) + p.Stage switch
                        {
                            DownloadStage.Retrying => " [yellow](retrying)[/]",
                            DownloadStage.Verifying => " [grey](verifying)[/]",
                            _ => string.Empty,
                        };
                        task.Value = p.BytesDone;
                        if (p.Stage == DownloadStage.Done)
                        {
                            task.Value = task.MaxValue;
                            task.StopTask();
                        }
                    });
                    return await work(progress).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }

        var state = new Dictionary<string, (Stopwatch Clock, long Start, int Decile)>(StringComparer.Ordinal);
        var plain = new SyncProgress<DownloadProgress>(p =>
        {
            var key = p.Repo + "/" + p.File;
            if (!state.TryGetValue(key, out var s))
            {
                s = (Stopwatch.StartNew(), p.BytesDone, -1);
            }

            switch (p.Stage)
            {
                case DownloadStage.Done:
                    env.Error.WriteLine($"{key}: {Bytes(p.BytesDone)} {(s.Decile >= 0 ? "downloaded" : "in cache")}");
                    break;
                case DownloadStage.Retrying:
                    env.Error.WriteLine($"{key}: connection problem, retrying from {Bytes(p.BytesDone)}");
                    break;
                case DownloadStage.Verifying:
                    break;
                default:
                    if (DecileGate.Next(ref s.Decile, p.BytesDone, p.TotalBytes ?? 0))
                    {
                        env.Error.WriteLine($"{key}: {Bytes(p.BytesDone)} / {(p.TotalBytes is { } tb ? Bytes(tb) : "?")}{RateAndEta(s.Clock.Elapsed, p.BytesDone - s.Start, p.TotalBytes - p.BytesDone)}");
                    }

                    break;
            }

            state[key] = s;
        });
        return await work(plain).ConfigureAwait(false);
    }

    private static string RateAndEta(TimeSpan elapsed, long bytes, long? left)
    {
        if (elapsed.TotalSeconds < 0.5 || bytes <= 0)
        {
            return string.Empty;
        }

        double rate = bytes / elapsed.TotalSeconds;
        var eta = left is > 0 ? $", ETA {TimeSpan.FromSeconds(Math.Round(left.Value / rate)):c}" : string.Empty;
        return $", {Bytes((long)rate)}/s{eta}";
    }

    internal static string Bytes(long n)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double v = n;
        int u = 0;
        while (v >= 1000 && u < units.Length - 1)
        {
            v /= 1000;
            u++;
        }

        return u == 0 ? $"{n} B" : v.ToString(v >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture) + " " + units[u];
    }
}
