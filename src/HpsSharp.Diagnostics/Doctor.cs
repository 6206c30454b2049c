using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Text;
using HpsSharp.Hub;
using HpsSharp.Hub.Checkpoints;
using HpsSharp.Modeling;

namespace HpsSharp.Diagnostics;

/// <summary>
/// <c>hps doctor</c>: checks the runtime, libtorch and its GLIBCXX fix, the CPU, threads, memory and disk against what
/// the model needs, CUDA, the Hugging Face cache and (with a model folder) its files, checksums and tokenizer. Every
/// problem comes with the fix to apply; <see cref="DoctorReport.Ok"/> is false when something scoring needs is missing.
/// </summary>
public static partial class Doctor
{
    /// <summary>Memory the scorer needs beyond its weights (activations at batch 4, tokenizer, runtime): a floor plus a share.</summary>
    internal const long WorkingSetFloor = 512L * 1024 * 1024;

    /// <summary>Runs every check; never throws for a broken set-up (that is what it reports).</summary>
    public static DoctorReport Run(DoctorOptions? options = null)
    {
        options ??= new DoctorOptions();
        var advice = new Advice(options.OptionNames ?? CultureInfo.InvariantCulture);
        var getEnv = options.GetEnvironmentVariable ?? Environment.GetEnvironmentVariable;
        var checks = new List<DoctorCheck>();
        var facts = SystemFacts.Read(getEnv);
        if (options.AvailableMemoryBytes is { } mem)
        {
            facts = facts with { AvailableMemoryBytes = mem };
        }

        checks.Add(DotNet());
        var torch = TorchFacts.Probe();
        checks.Add(LibTorch(torch));
        checks.Add(Glibcxx(torch));
        checks.Add(Cpu(facts, advice));
        checks.Add(Threads(torch, facts, getEnv));
        checks.Add(Cuda(torch, advice));
        var hub = HubOptions.FromEnvironment(getEnv);
        checks.Add(HfCache(hub));

        ModelNeeds? needs = null;
        bool modelOk = false;
        if (options.ModelDir is { } dir)
        {
            var full = Path.GetFullPath(dir);
            if (!Directory.Exists(full))
            {
                checks.Add(DoctorCheck.Fail("model", $"{full}: folder not found", advice.DownloadFix));
            }
            else
            {
                checks.Add(DoctorCheck.Pass("model", full));
                checks.Add(Config(full, advice));
                var (checkpoint, report) = Checkpoint(full, advice);
                checks.Add(checkpoint);
                checks.Add(Checksums(full, report, options.VerifyChecksums, advice));
                checks.Add(Tokenizer(full, advice));
                if (report is not null)
                {
                    needs = ModelNeeds.From(report);
                }

                modelOk = checks.Where(c => c.Required).All(c => c.Ok);
            }
        }

        checks.Add(Memory(facts, needs, options.ModelDir is not null, advice));
        long? free = options.FreeDiskBytes ?? SystemFacts.FreeDiskBytes(hub.CacheDir, getEnv);
        checks.Add(Disk(hub.CacheDir, free, options.ModelDir is not null && modelOk));
        return new DoctorReport(checks);
    }

    private static DoctorCheck DotNet() => DoctorCheck.Pass("dotnet",
        $"{RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription} ({RuntimeInformation.ProcessArchitecture}), runtime {RuntimeEnvironment.GetRuntimeDirectory()}");

    private static DoctorCheck LibTorch(TorchFacts t)
    {
        if (!t.Loaded)
        {
            return DoctorCheck.Fail("libtorch", $"TorchSharp {t.TorchSharpVersion}: libtorch did not load: {t.Error}",
                "install the tool from its package (it carries libtorch), or build with the libtorch-cpu-linux-x64 package; on an old distribution see the glibcxx check");
        }

        return DoctorCheck.Pass("libtorch", $"TorchSharp {t.TorchSharpVersion}, libtorch {t.LibTorchVersion} ({(t.CudaBuild ? "CUDA" : "CPU")} build) loaded from {Path.GetDirectoryName(t.LibTorchSharpPath) ?? "?"}");
    }

    private static DoctorCheck Glibcxx(TorchFacts t)
    {
        const string name = "glibcxx";
        if (!OperatingSystem.IsLinux())
        {
            return DoctorCheck.Pass(name, "not Linux: no GLIBCXX version needs to check", required: false);
        }

        if (t.LibTorchSharpPath is not { } bridge || !File.Exists(bridge))
        {
            return DoctorCheck.Fail(name, "libLibTorchSharp.so not found beside the tool", "reinstall the tool or rebuild: the native bridge comes with the TorchSharp package");
        }

        Version? have = t.LibStdCxxPath is { } std && File.Exists(std) ? ElfVersions.MaxGlibcxx(std) : null;
        var needs = ElfVersions.ReadNeeds(bridge).Where(n => n.Version.StartsWith("GLIBCXX_", StringComparison.Ordinal)).ToList();
        var top = needs.Select(n => (Need: n, V: ElfVersions.ParseGlibcxx(n.Version))).Where(x => x.V is not null).OrderByDescending(x => x.V).ToList();
        var missingStrong = top.Where(x => have is not null && x.V > have && !x.Need.Weak).Select(x => x.Need.Version).ToList();
        var weak = top.Where(x => x.Need.Weak).Select(x => x.Need.Version).ToList();
        string haveText = have is null ? "libstdc++ version unknown" : $"libstdc++ provides up to GLIBCXX_{have}";
        string weakText = weak.Count == 0 ? "no version marked weak" : $"{string.Join(", ", weak)} marked weak (the build's fix is applied)";
        if (missingStrong.Count > 0)
        {
            return DoctorCheck.Fail(name, $"{bridge} needs {string.Join(", ", missingStrong)} but {haveText}; {weakText}",
                "build or pack with this repository (Directory.Build.targets marks GLIBCXX_3.4.32 weak in every output), or install a newer libstdc++6");
        }

        return DoctorCheck.Pass(name, $"{haveText}; {weakText}; needs at most {(top.Count > 0 ? top[0].Need.Version : "none")}");
    }

    private static DoctorCheck Cpu(SystemFacts f, Advice advice)
    {
        string Has(string flag) => f.CpuFlags.Contains(flag) ? "yes" : "no";
        bool bf16 = f.CpuFlags.Contains("avx512_bf16") || f.CpuFlags.Contains("amx_bf16");
        var detail = $"{f.CpuModel}; AVX2 {Has("avx2")}, AVX-512 {Has("avx512f")}, AVX512-BF16 {Has("avx512_bf16")}, AMX-BF16 {Has("amx_bf16")}";
        if (RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.X86))
        {
            return DoctorCheck.Pass("cpu", detail, required: false);
        }

        return bf16
            ? DoctorCheck.Pass("cpu", detail + ": bf16 matrix products run in hardware", required: false)
            : DoctorCheck.Fail("cpu", detail + ": bf16 (the default) is emulated on this CPU and several times slower",
                $"use {advice.Flag(Precisions.Spelling.Field)} fp32 here (exact, needs twice the memory) or {advice.Flag(DeviceSpec.Field)} cuda on a GPU", required: false);
    }

    private static DoctorCheck Threads(TorchFacts t, SystemFacts f, Func<string, string?> getEnv)
    {
        var env = new[] { "OMP_NUM_THREADS", "MKL_NUM_THREADS" }.Select(n => (n, getEnv(n))).Where(x => !string.IsNullOrEmpty(x.Item2))
            .Select(x => $"{x.n}={x.Item2}").ToList();
        var detail = string.Create(CultureInfo.InvariantCulture,
            $"{f.LogicalProcessors} logical processors; libtorch {t.IntraOpThreads} intra-op / {t.InterOpThreads} inter-op threads{(env.Count > 0 ? "; " + string.Join(", ", env) : string.Empty)}");
        if (t.Loaded && t.IntraOpThreads > f.LogicalProcessors)
        {
            return DoctorCheck.Fail("threads", detail + ": more compute threads than processors (oversubscription slows every forward pass)",
                $"set OMP_NUM_THREADS={f.LogicalProcessors} (or fewer) before starting hps", required: false);
        }

        return DoctorCheck.Pass("threads", detail, required: false);
    }

    private static DoctorCheck Cuda(TorchFacts t, Advice advice)
    {
        var smi = NvidiaSmi.Query();
        var gpus = smi is null ? "no NVIDIA driver tool (nvidia-smi)" : smi.Count == 0 ? "nvidia-smi lists no GPU" : "GPUs: " + string.Join("; ", smi);
        if (t.CudaAvailable)
        {
            return DoctorCheck.Pass("cuda", $"available, {t.CudaDevices} device(s); {gpus}", required: false);
        }

        if (smi is { Count: > 0 })
        {
            return DoctorCheck.Fail("cuda", $"not available to libtorch ({(t.CudaBuild ? "CUDA" : "CPU-only")} build); {gpus}",
                "this build carries the CPU libtorch: build with -p:LibTorchPackage=libtorch-cuda-12.8-linux-x64, or run tools/gpu-check.sh against a local PyTorch (docs/gpu.md)", required: false);
        }

        return DoctorCheck.Pass("cuda", $"not available ({(t.CudaBuild ? "CUDA" : "CPU-only")} libtorch; {gpus}): {advice.Flag(DeviceSpec.Field)} cpu", required: false);
    }

    private static DoctorCheck HfCache(HubOptions hub)
    {
        bool exists = Directory.Exists(hub.CacheDir);
        int repos = exists ? Directory.GetDirectories(hub.CacheDir, "models--*").Length : 0;
        var detail = $"{hub.CacheDir} ({(exists ? $"{repos} model repositories" : "not created yet")}); HF_HOME {hub.HfHome}; endpoint {hub.Endpoint}{(hub.Offline ? "; offline (HF_HUB_OFFLINE)" : string.Empty)}";
        if (exists && !CanWrite(hub.CacheDir))
        {
            return DoctorCheck.Fail("hf_cache", detail + ": not writable", "set HF_HOME or HF_HUB_CACHE to a folder you can write", required: false);
        }

        return DoctorCheck.Pass("hf_cache", detail, required: false);
    }

    private static DoctorCheck Config(string dir, Advice advice)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path))
        {
            return DoctorCheck.Fail("config", $"{path} is missing", "copy config.json of Qwen/Qwen2-VL-7B-Instruct into the folder, or " + advice.DownloadFix);
        }

        try
        {
            var c = Qwen2VLConfig.Load(path);
            return DoctorCheck.Pass("config", string.Create(CultureInfo.InvariantCulture,
                $"Qwen2-VL: hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, vision depth {c.VisionConfig.Depth}"));
        }
        catch (Exception ex) when (ex is HpsException or JsonException or IOException or InvalidDataException)
        {
            return DoctorCheck.Fail("config", $"{path}: {ex.Message}", "replace it with the config.json of Qwen/Qwen2-VL-7B-Instruct (or of the model you trained)");
        }
    }

    private static (DoctorCheck Check, CheckpointReport? Report) Checkpoint(string dir, Advice advice)
    {
        CheckpointReport report;
        try
        {
            report = CheckpointInspector.Inspect(dir);
        }
        catch (Exception ex) when (ex is HpsException or FileNotFoundException or IOException or InvalidDataException or JsonException)
        {
            var truncated = ex.Message.Contains("past the", StringComparison.Ordinal) || ex.Message.Contains("end of file", StringComparison.Ordinal);
            return (DoctorCheck.Fail("checkpoint", ex.Message.ReplaceLineEndings(" "),
                truncated ? "the weights file is truncated (an interrupted copy or download): delete it and " + advice.DownloadFix
                    : "put HPSv3.safetensors (or model.safetensors, or a shard index with its shards) in the folder, or " + advice.DownloadFix), null);
        }

        var check = report.Config ?? report.Released;
        var what = string.Create(CultureInfo.InvariantCulture,
            $"{report.Architecture.Describe()}; {report.Parameters:N0} parameters, {NvidiaSmi.Gib(report.TotalBytes)} in {string.Join(", ", report.Files.Select(Path.GetFileName))}; layout {CheckpointReport.LayoutName(report.Layout)}");
        if (!check.Ok)
        {
            var problems = new List<string>();
            if (check.Check.Missing.Count > 0)
            {
                problems.Add($"{check.Check.Missing.Count} missing (e.g. {check.Check.Missing[0]})");
            }

            if (check.Check.Mismatched.Count > 0)
            {
                problems.Add($"{check.Check.Mismatched.Count} wrong shape (e.g. {check.Check.Mismatched[0]})");
            }

            if (check.Check.Unexpected.Count > 0)
            {
                problems.Add($"{check.Check.Unexpected.Count} unexpected (e.g. {check.Check.Unexpected[0]})");
            }

            return (DoctorCheck.Fail("checkpoint", $"{what}; against {check.Against}: {string.Join(", ", problems)}",
                "use a complete HPSv3 checkpoint with the config.json it was trained with ('hps model inspect DIR' lists every tensor), or " + advice.DownloadFix), report);
        }

        var released = report.Released.MatchesRelease ? "the released HPSv3 tensor table" : $"complete against {check.Against} (not the released HPSv3 bytes)";
        return (DoctorCheck.Pass("checkpoint", $"{what}; {released}"), report);
    }

    private static DoctorCheck Checksums(string dir, CheckpointReport? report, bool verify, Advice advice)
    {
        var sourcePath = Path.Combine(dir, ModelDownloader.SourceFileName);
        if (!File.Exists(sourcePath))
        {
            return DoctorCheck.Pass("checksums", $"no {ModelDownloader.SourceFileName} (not assembled by 'hps model download'): sizes and hashes have no reference; the checkpoint check read every header", required: false);
        }

        var problems = new List<string>();
        var verified = new List<string>();
        int files = 0;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(sourcePath));
            foreach (var f in doc.RootElement.GetProperty("files").EnumerateArray())
            {
                files++;
                var name = f.GetProperty("name").GetString()!;
                long size = f.GetProperty("size").GetInt64();
                var path = Path.Combine(dir, name);
                if (!File.Exists(path))
                {
                    problems.Add($"{name} is missing (a broken link into the cache?)");
                    continue;
                }

                long actual = new FileInfo(path).Length;
                if (new FileInfo(path).LinkTarget is not null)
                {
                    actual = new FileInfo(Path.GetFullPath(Path.Combine(dir, new FileInfo(path).LinkTarget!))).Length;
                }

                if (actual != size)
                {
                    problems.Add(string.Create(CultureInfo.InvariantCulture, $"{name} has {actual} bytes, the download recorded {size}"));
                    continue;
                }

                if (verify && BlobSha256(path) is { } expected)
                {
                    var got = Sha256(path);
                    if (!string.Equals(got, expected, StringComparison.OrdinalIgnoreCase))
                    {
                        problems.Add($"{name}: SHA-256 {got[..12]}… differs from its blob name {expected[..12]}…");
                    }
                    else
                    {
                        verified.Add(name);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            return DoctorCheck.Fail("checksums", $"{sourcePath}: unreadable ({ex.Message})", "delete the folder and " + advice.DownloadFix);
        }

        if (problems.Count > 0)
        {
            return DoctorCheck.Fail("checksums", string.Join("; ", problems), "delete the damaged files from the hub cache and " + advice.DownloadFix);
        }

        var how = verify
            ? (verified.Count > 0 ? $"SHA-256 re-verified for {string.Join(", ", verified)}" : "no file is stored under its SHA-256 name to re-verify")
            : $"SHA-256 was verified at download (add {advice.Flag(nameof(DoctorOptions.VerifyChecksums))} to re-hash the weights)";
        return DoctorCheck.Pass("checksums", string.Create(CultureInfo.InvariantCulture, $"{files} files match the sizes in {ModelDownloader.SourceFileName}; {how}"));
    }

    private static DoctorCheck Tokenizer(string dir, Advice advice)
    {
        try
        {
            var tok = Qwen2Tokenizer.FromDirectory(dir);
            var ids = tok.Encode("Hello world");
            var reward = tok.Encode("<|Reward|>");
            if (!ids.SequenceEqual([9707, 1879]) || !reward.SequenceEqual([Hpsv3Layout.RewardTokenId]))
            {
                return DoctorCheck.Fail("tokenizer", $"loads but gives {string.Join(' ', ids)} for 'Hello world' (Qwen2: 9707 1879) and {string.Join(' ', reward)} for <|Reward|>",
                    "use the tokenizer files of Qwen/Qwen2-VL-7B-Instruct");
            }

            return DoctorCheck.Pass("tokenizer", string.Create(CultureInfo.InvariantCulture, $"Qwen2 BPE, {tok.VocabularyCount:N0} entries; 'Hello world' → 9707 1879; <|Reward|> → {Hpsv3Layout.RewardTokenId}"));
        }
        catch (Exception ex) when (ex is HpsException or IOException or JsonException or InvalidDataException)
        {
            return DoctorCheck.Fail("tokenizer", ex.Message.ReplaceLineEndings(" "),
                "copy tokenizer.json (or vocab.json + merges.txt) and tokenizer_config.json of Qwen/Qwen2-VL-7B-Instruct into the model folder, or " + advice.DownloadFix);
        }
    }

    private static DoctorCheck Memory(SystemFacts f, ModelNeeds? needs, bool modelGiven, Advice advice)
    {
        var n = needs ?? ModelNeeds.Released7B;
        var subject = needs is null ? "the released HPSv3-7B" : "this model";
        var detail = $"{NvidiaSmi.Gib(f.AvailableMemoryBytes)} available of {NvidiaSmi.Gib(f.TotalMemoryBytes)}; {subject} needs about {NvidiaSmi.Gib(n.Bf16Bytes)} in bf16, {NvidiaSmi.Gib(n.Fp32Bytes)} in fp32 (weights + working set at batch 4)";
        if (f.AvailableMemoryBytes < n.Bf16Bytes)
        {
            return DoctorCheck.Fail("memory", detail + ": too little for either dtype",
                $"free memory (close other programs, raise the container's memory limit) to at least {NvidiaSmi.Gib(n.Bf16Bytes)}, or use {advice.Flag(DeviceSpec.Field)} cuda on a GPU with that much memory",
                required: modelGiven);
        }

        if (f.AvailableMemoryBytes < n.Fp32Bytes)
        {
            return DoctorCheck.Pass("memory", detail + $": enough for bf16 (the default), not for {advice.Flag(Precisions.Spelling.Field)} fp32", required: modelGiven);
        }

        return DoctorCheck.Pass("memory", detail + ": enough for both", required: modelGiven);
    }

    private static DoctorCheck Disk(string cacheDir, long? free, bool haveModel)
    {
        long need = ModelNeeds.Released7B.DownloadBytes;
        if (free is null)
        {
            return DoctorCheck.Pass("disk", $"free space at {cacheDir} unknown", required: false);
        }

        var detail = $"{NvidiaSmi.Gib(free.Value)} free at {cacheDir}; 'hps model download' needs about {NvidiaSmi.Gib(need)}";
        if (haveModel)
        {
            return DoctorCheck.Pass("disk", detail + " (not needed: the model folder is complete)", required: false);
        }

        return free.Value >= need
            ? DoctorCheck.Pass("disk", detail, required: false)
            : DoctorCheck.Fail("disk", detail + ": not enough to download the model", "free disk space, or point HF_HOME / HF_HUB_CACHE to a larger disk", required: false);
    }

    private static bool CanWrite(string dir)
    {
        try
        {
            var probe = Path.Combine(dir, $".hps-doctor-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The SHA-256 a hub-cache blob is named by, when <paramref name="path"/> resolves to one.</summary>
    internal static string? BlobSha256(string path)
    {
        var resolved = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
        var name = Path.GetFileName(resolved);
        return Sha256Name().IsMatch(name) && Path.GetFileName(Path.GetDirectoryName(resolved)) == "blobs" ? name : null;
    }

    private static string Sha256(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Name();
}

/// <summary>Memory and disk a model needs, from its tensor table.</summary>
/// <param name="Bf16Bytes">bf16 backbone + fp32 head + working set.</param>
/// <param name="Fp32Bytes">fp32 everything + working set.</param>
/// <param name="DownloadBytes">The weights as stored.</param>
internal sealed record ModelNeeds(long Bf16Bytes, long Fp32Bytes, long DownloadBytes)
{
    /// <summary>The released checkpoint: the 7B table in bf16 with an fp32 head (≈16.6 GB).</summary>
    public static ModelNeeds Released7B { get; } = Released();

    private static ModelNeeds Released()
    {
        var n = FromTable(Hpsv3Layout.ExpectedTensors(Hpsv3Dimensions.Released7B)
            .Select(t => (t.Role == Hpsv3TensorRole.RewardHead, t.Shape.Aggregate(1L, (a, b) => a * b))).ToList(), storedBytes: null);
        // The released file also stores the unused bf16 lm_head [vocab, hidden]; it is downloaded, never loaded.
        var d = Hpsv3Dimensions.Released7B;
        return n with { DownloadBytes = n.DownloadBytes + ((long)d.VocabSize * d.HiddenSize * 2) };
    }

    public static ModelNeeds From(CheckpointReport report) => FromTable(report.Tensors
        .Where(t => t.Name != "lm_head.weight")   // never loaded
        .Select(t => (t.Name.StartsWith("rm_head.", StringComparison.Ordinal), t.Shape.Aggregate(1L, (a, b) => a * b))).ToList(), report.TotalBytes);

    private static ModelNeeds FromTable(IReadOnlyList<(bool Head, long Elements)> tensors, long? storedBytes)
    {
        long head = tensors.Where(t => t.Head).Sum(t => t.Elements), backbone = tensors.Where(t => !t.Head).Sum(t => t.Elements);
        long bf16 = (backbone * 2) + (head * 4), fp32 = (backbone + head) * 4;
        return new ModelNeeds(bf16 + WorkingSet(bf16), fp32 + WorkingSet(fp32), storedBytes ?? bf16);
    }

    private static long WorkingSet(long weights) => Doctor.WorkingSetFloor + (weights / 10);
}

/// <summary>
/// How the doctor's advice names options: as fields (<c>Dtype</c>) for a library caller, as flags when the front end
/// passes its names (<see cref="DoctorOptions.OptionNames"/>; <c>hps doctor</c> passes its command line's).
/// </summary>
internal sealed class Advice(IFormatProvider names)
{
    /// <summary>The name of the option field <paramref name="field"/>.</summary>
    public string Flag(string field) => new OptionField(field).ToString(null, names);

    /// <summary>The one fix for a missing or damaged model folder.</summary>
    public string DownloadFix => $"run 'hps model download' (it resumes, verifies SHA-256 and assembles a complete folder), then pass the folder it prints to {Flag(nameof(DoctorOptions.ModelDir))}";
}
