using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using HpsSharp.Core;

namespace HpsSharp.Training.Checkpoints;

/// <summary>Atomic writes of single files and whole folders.</summary>
public static class AtomicFile
{
    /// <summary>Writes text to a temporary file beside <paramref name="path"/> and renames it into place.</summary>
    public static void WriteAllText(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }

            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>Copies a file through a temporary name.</summary>
    public static void Copy(string source, string destination)
    {
        var full = Path.GetFullPath(destination);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.Copy(source, tmp);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// The checkpoints of a run: <c>OUT/checkpoints/step-NNNNNNNN/</c>, each a complete model folder (model.safetensors,
/// config.json, tokenizer files) plus <c>optimizer.safetensors</c>, <c>trainer_state.json</c> and <c>run.json</c>.
/// A checkpoint is written into a hidden temporary folder and renamed into place when complete, so an interrupted
/// write never leaves a folder that looks like a checkpoint.
/// </summary>
public static class CheckpointStore
{
    public const string FolderName = "checkpoints";
    public const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string RunFile = "run.json";

    public static string Root(string outDir) => Path.Combine(outDir, FolderName);

    public static string NameOf(long step) => "step-" + step.ToString("D8", CultureInfo.InvariantCulture);

    /// <summary>Writes a checkpoint: <paramref name="fill"/> writes every file into the folder it is given.</summary>
    public static string Write(string outDir, long step, Action<string> fill, int keep)
    {
        ArgumentNullException.ThrowIfNull(fill);
        var root = Root(outDir);
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, NameOf(step));
        var tmp = Path.Combine(root, $".{NameOf(step)}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(tmp);
        try
        {
            fill(tmp);
            if (Directory.Exists(final))
            {
                Directory.Delete(final, recursive: true);
            }

            Directory.Move(tmp, final);
        }
        catch
        {
            try
            {
                Directory.Delete(tmp, recursive: true);
            }
            catch (IOException)
            {
            }

            throw;
        }

        foreach (var old in List(outDir).SkipLast(keep))
        {
            Directory.Delete(old, recursive: true);
        }

        return final;
    }

    /// <summary>Complete checkpoints, oldest first.</summary>
    public static IReadOnlyList<string> List(string outDir)
    {
        var root = Root(outDir);
        if (!Directory.Exists(root))
        {
            return Array.Empty<string>();
        }

        return Directory.GetDirectories(root, "step-*")
            .Where(d => File.Exists(Path.Combine(d, StateFile)))
            .OrderBy(d => d, StringComparer.Ordinal)
            .ToList();
    }

    public static string? Latest(string outDir) => List(outDir).LastOrDefault();

    public static TrainerState ReadState(string checkpoint)
    {
        var path = Path.Combine(checkpoint, StateFile);
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), TrainerState.Json)
                ?? throw new UserInputException(path, "empty trainer state");
        }
        catch (JsonException ex)
        {
            throw new UserInputException(path, "corrupt trainer state: " + ex.Message, ex);
        }
    }
}

/// <summary>One optimizer step of the loss curve.</summary>
public sealed record StepRecord(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("accuracy")] double Accuracy,
    [property: JsonPropertyName("lr")] double LearningRate,
    [property: JsonPropertyName("grad_norm")] double GradNorm,
    [property: JsonPropertyName("mean_sigma")] double MeanSigma);

/// <summary>One evaluation on the held-out pairs.</summary>
public sealed record EvalRecord(
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("accuracy")] double Accuracy,
    [property: JsonPropertyName("pairs")] long Pairs,
    [property: JsonPropertyName("mean_sigma")] double MeanSigma,
    [property: JsonPropertyName("mean_abs_margin")] double MeanAbsMargin);

/// <summary>Everything besides weights and optimizer moments needed to continue a run exactly.</summary>
public sealed record TrainerState
{
    [JsonPropertyName("step")] public long Step { get; init; }

    [JsonPropertyName("total_steps")] public long TotalSteps { get; init; }

    [JsonPropertyName("epoch")] public int Epoch { get; init; }

    /// <summary>Pairs of the epoch's permutation already consumed.</summary>
    [JsonPropertyName("offset")] public int Offset { get; init; }

    [JsonPropertyName("pairs_seen")] public long PairsSeen { get; init; }

    /// <summary>The torch default generator (dropout), base64 of get_rng_state.</summary>
    [JsonPropertyName("torch_rng")] public string? TorchRng { get; init; }

    /// <summary>The Monte Carlo loss generator, when used.</summary>
    [JsonPropertyName("loss_rng")] public string? LossRng { get; init; }

    [JsonPropertyName("seed")] public long Seed { get; init; }

    [JsonPropertyName("bad_images")] public long BadImages { get; init; }

    [JsonPropertyName("history")] public IReadOnlyList<StepRecord> History { get; init; } = Array.Empty<StepRecord>();

    [JsonPropertyName("evals")] public IReadOnlyList<EvalRecord> Evals { get; init; } = Array.Empty<EvalRecord>();

    /// <summary>The options of the run that wrote the checkpoint.</summary>
    [JsonPropertyName("options")] public TrainingOptions? Options { get; init; }

    public static JsonSerializerOptions Json { get; } = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
