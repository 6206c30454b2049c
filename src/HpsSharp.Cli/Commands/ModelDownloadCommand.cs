using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Hub;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps model download</c>: the released checkpoint and its Qwen2-VL base files (or a baseline scorer's files) from a hub.</summary>
internal static class ModelDownloadCommand
{
    public static Command Create(CliEnvironment env)
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
                env.Error.WriteLine($"{request.Repo}@{result.Commit[..12]} + {request.BaseRepo}@{result.BaseCommit[..12]}: {result.Files.Count} files, {ModelCommand.Bytes(result.Files.Sum(f => f.Size))}; pass this folder to --model:");
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
            env.Error.WriteLine($"{repo}@{result.Commit[..12]}: {result.Files.Count} files, {ModelCommand.Bytes(result.Files.Sum(f => f.Size))}; pass this folder to --scorer {name} --model:");
            env.Out.WriteLine(result.ModelDir);
        }

        return CliApp.Ok;
    }

    internal static string DownloadJson(ModelDownloadResult result) => ContractJson.Write(
        new ModelDownloadDocument(
            result.ModelDir, result.Commit, result.BaseCommit,
            [.. result.Files.Select(f => new ModelDownloadFileRecord(f.Repo, f.File, f.SnapshotPath, f.Size, f.Downloaded, f.Verified))],
            result.Missing),
        ContractJson.Indented.ModelDownloadDocument);

    /// <summary>A progress bar per file with bytes, rate and ETA on a terminal; plain lines on stderr otherwise.</summary>
    private static Task<T> RunWithProgressAsync<T>(CliEnvironment env, Func<IProgress<DownloadProgress>, Task<T>> work) =>
        ProgressReporter.RunAsync(env, new ProgressView<DownloadProgress>
        {
            Key = p => p.Repo + "/" + p.File,
            Label = p => p.File,
            Done = p => p.BytesDone,
            Total = p => p.TotalBytes,
            Bytes = true,
            Status = p => p.Stage switch
            {
                DownloadStage.Retrying => " [yellow](retrying)[/]",
                DownloadStage.Verifying => " [grey](verifying)[/]",
                _ => string.Empty,
            },
            Finished = p => p.Stage == DownloadStage.Done,
            Line = (p, line) => p.Stage switch
            {
                DownloadStage.Done => $"{p.Repo}/{p.File}: {ModelCommand.Bytes(p.BytesDone)} {(line.Started ? "downloaded" : "in cache")}",
                DownloadStage.Retrying => $"{p.Repo}/{p.File}: connection problem, retrying from {ModelCommand.Bytes(p.BytesDone)}",
                DownloadStage.Verifying => null,
                _ => line.Due(p.BytesDone, p.TotalBytes)
                    ? $"{p.Repo}/{p.File}: {ModelCommand.Bytes(p.BytesDone)} / {(p.TotalBytes is { } tb ? ModelCommand.Bytes(tb) : "?")}{RateAndEta(line.Elapsed, p.BytesDone - line.Start, p.TotalBytes - p.BytesDone)}"
                    : null,
            },
        }, work);

    private static string RateAndEta(TimeSpan elapsed, long bytes, long? left)
    {
        if (elapsed.TotalSeconds < 0.5 || bytes <= 0)
        {
            return string.Empty;
        }

        double rate = bytes / elapsed.TotalSeconds;
        var eta = left is > 0 ? $", ETA {TimeSpan.FromSeconds(Math.Round(left.Value / rate)):c}" : string.Empty;
        return $", {ModelCommand.Bytes((long)rate)}/s{eta}";
    }
}
