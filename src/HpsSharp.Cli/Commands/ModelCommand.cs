using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Hub;
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
        return cmd;
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
        var cmd = new Command("download", "Download HPSv3.safetensors and the Qwen2-VL-7B-Instruct config/tokenizer/processor files into the Hugging Face cache and print the model folder")
        {
            repo, revision, baseRepo, baseRevision, output, cacheDir, endpoint, token, offline, verify, json,
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

    internal static string DownloadJson(ModelDownloadResult result)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
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
                    var progress = new LockedProgress<DownloadProgress>(p =>
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
        var plain = new LockedProgress<DownloadProgress>(p =>
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
                    int decile = p.TotalBytes is > 0 and var t ? (int)(p.BytesDone * 10 / t) : 0;
                    if (decile != s.Decile)
                    {
                        s.Decile = decile;
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

    private sealed class LockedProgress<T>(Action<T> report) : IProgress<T>
    {
        private readonly object _gate = new();

        public void Report(T value)
        {
            lock (_gate)
            {
                report(value);
            }
        }
    }
}
