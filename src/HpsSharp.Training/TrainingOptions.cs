using System.Text.Json;
using System.Text.Json.Serialization;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Training.Data;
using HpsSharp.Training.Losses;
using HpsSharp.Training.Optim;

namespace HpsSharp.Training;

/// <summary>
/// Every option of <c>hps train</c>. The JSON names (for <c>--config FILE.json</c>) are the command-line names without
/// the leading dashes; defaults are those of HPSv3's <c>HPSv3_7B.yaml</c> where it sets them (docs/training.md#defaults).
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Input model folder (config.json, weights, tokenizer files) to fine-tune, or whose config.json to use with <see cref="RandomInit"/>.</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }

    /// <summary>Start from random weights built from the model folder's config.json instead of its weights.</summary>
    [JsonPropertyName("random-init")] public bool RandomInit { get; init; }

    /// <summary>Training pairs (path1 preferred).</summary>
    [JsonPropertyName("data")] public string? Data { get; init; }

    /// <summary>hpdv3 (a JSON array) or jsonl.</summary>
    [JsonPropertyName("format")] public string Format { get; init; } = "hpdv3";

    /// <summary>Folder the image paths are relative to (default: the data file's folder).</summary>
    [JsonPropertyName("images")] public string? Images { get; init; }

    /// <summary>Held-out pairs for periodic evaluation (same format).</summary>
    [JsonPropertyName("eval-data")] public string? EvalData { get; init; }

    /// <summary>Image root of the evaluation pairs (default: <see cref="Images"/>, else the eval file's folder).</summary>
    [JsonPropertyName("eval-images")] public string? EvalImages { get; init; }

    /// <summary>Output folder: the final model (a folder <c>--model</c> accepts) and <c>checkpoints/</c>.</summary>
    [JsonPropertyName("out")] public string? Out { get; init; }

    /// <summary>Continue from the latest checkpoint in <see cref="Out"/>.</summary>
    [JsonPropertyName("resume")] public bool Resume { get; init; }

    /// <summary>Start clean in an <see cref="Out"/> that holds another run: its checkpoints, run.json and final weights are removed first.</summary>
    [JsonPropertyName("overwrite")] public bool Overwrite { get; init; }

    /// <summary>Passes over the data (yaml: 10).</summary>
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 10;

    /// <summary>Stop after this many optimizer steps (the schedule still spans all epochs unless set).</summary>
    [JsonPropertyName("max-steps")] public long? MaxSteps { get; init; }

    /// <summary>Stop (after saving a checkpoint) once this many optimizer steps are done; the schedule is unchanged. For interrupting and resuming.</summary>
    [JsonPropertyName("stop-after")] public long? StopAfter { get; init; }

    /// <summary>Pairs per micro-batch (yaml: 2).</summary>
    [JsonPropertyName("batch-size")] public int BatchSize { get; init; } = 2;

    /// <summary>Micro-batches per optimizer step (yaml: 4).</summary>
    [JsonPropertyName("grad-accum")] public int GradAccum { get; init; } = 4;

    /// <summary>Learning rate of the decoder (and default of the other groups) (yaml: 2e-6).</summary>
    [JsonPropertyName("lr")] public double LearningRate { get; init; } = 2e-6;

    [JsonPropertyName("vision-lr")] public double? VisionLr { get; init; }

    [JsonPropertyName("merger-lr")] public double? MergerLr { get; init; }

    [JsonPropertyName("head-lr")] public double? HeadLr { get; init; }

    /// <summary>Learning rate of the &lt;|Reward|&gt; embedding row (yaml special_token_lr: 2e-6).</summary>
    [JsonPropertyName("special-token-lr")] public double? SpecialTokenLr { get; init; }

    [JsonPropertyName("weight-decay")] public double WeightDecay { get; init; }

    [JsonPropertyName("adam-beta1")] public double AdamBeta1 { get; init; } = 0.9;

    [JsonPropertyName("adam-beta2")] public double AdamBeta2 { get; init; } = 0.999;

    [JsonPropertyName("adam-eps")] public double AdamEps { get; init; } = 1e-8;

    /// <summary>Global gradient-norm clip (HF default 1.0; 0 disables).</summary>
    [JsonPropertyName("max-grad-norm")] public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>constant_with_warmup (yaml), cosine or constant.</summary>
    [JsonPropertyName("schedule")] public string Schedule { get; init; } = "constant_with_warmup";

    [JsonPropertyName("warmup-ratio")] public double WarmupRatio { get; init; } = 0.05;

    /// <summary>Overrides <see cref="WarmupRatio"/>.</summary>
    [JsonPropertyName("warmup-steps")] public long? WarmupSteps { get; init; }

    /// <summary>uncertainty (deterministic, default), uncertainty-mc, bt, btt, margin, hpsv2.</summary>
    [JsonPropertyName("loss")] public string Loss { get; init; } = "uncertainty";

    /// <summary>Samples per pair of uncertainty-mc (code: 1000).</summary>
    [JsonPropertyName("mc-samples")] public int McSamples { get; init; } = PairLosses.DefaultSamples;

    /// <summary>Pairs with |(c1 − c2)/(c1 + c2)| ≤ this are ties (for bt, btt, margin); null: no ties (yaml).</summary>
    [JsonPropertyName("tie-threshold")] public double? TieThreshold { get; init; }

    /// <summary>Keep pairs with confidence ≥ this (yaml 0.95); a missing key is kept.</summary>
    [JsonPropertyName("confidence-threshold")] public double? ConfidenceThreshold { get; init; } = 0.95;

    /// <summary>keep, drop or error: what an explicit "confidence": null does.</summary>
    [JsonPropertyName("null-confidence")] public string NullConfidence { get; init; } = "keep";

    /// <summary>Stop at the first bad row or unreadable image instead of skipping it.</summary>
    [JsonPropertyName("strict")] public bool Strict { get; init; }

    /// <summary>Freeze the vision tower (not the merger).</summary>
    [JsonPropertyName("freeze-vision")] public bool FreezeVision { get; init; }

    /// <summary>Freeze the decoder layers and final norm.</summary>
    [JsonPropertyName("freeze-decoder")] public bool FreezeDecoder { get; init; }

    /// <summary>Freeze everything but rm_head (and the reward row unless <see cref="TrainRewardToken"/> is false).</summary>
    [JsonPropertyName("head-only")] public bool HeadOnly { get; init; }

    /// <summary>Train the &lt;|Reward|&gt; embedding row (as HPSv3 does).</summary>
    [JsonPropertyName("train-reward-token")] public bool TrainRewardToken { get; init; } = true;

    /// <summary>The one seed: data order, dropout, Monte Carlo samples, random initialisation.</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; } = 42;

    /// <summary>Evaluate on <see cref="EvalData"/> every N optimizer steps (0: at the end of each epoch only).</summary>
    [JsonPropertyName("eval-every")] public long EvalEvery { get; init; }

    [JsonPropertyName("eval-batch-size")] public int EvalBatchSize { get; init; } = 8;

    /// <summary>Write a checkpoint every N optimizer steps (0: at the end of each epoch only).</summary>
    [JsonPropertyName("save-every")] public long SaveEvery { get; init; }

    /// <summary>Checkpoints kept in out/checkpoints (oldest removed).</summary>
    [JsonPropertyName("save-total-limit")] public int SaveTotalLimit { get; init; } = 2;

    /// <summary>bf16 (as HPSv3 trains; fp32 master weights in the optimizer, fp32 head) or fp32.</summary>
    [JsonPropertyName("dtype")] public string Dtype { get; init; } = "bf16";

    [JsonPropertyName("device")] public string Device { get; init; } = "cpu";

    [JsonPropertyName("min-pixels")] public int MinPixels { get; init; } = SmartResize.Hpsv3Pixels;

    [JsonPropertyName("max-pixels")] public int MaxPixels { get; init; } = SmartResize.Hpsv3Pixels;

    /// <summary>
    /// Train LoRA adapters instead of the backbone: the base weights stay frozen (and memory-mapped); trained are the
    /// LoRA matrices, rm_head and the &lt;|Reward|&gt; row. The output is a PEFT adapter folder.
    /// </summary>
    [JsonPropertyName("lora")] public bool Lora { get; init; }

    /// <summary>LoRA rank (HPSv3 PEFTLoraConfig: 16).</summary>
    [JsonPropertyName("lora-r")] public int LoraR { get; init; } = HpsSharp.Modeling.Lora.LoraSettings.DefaultR;

    /// <summary>LoRA alpha (HPSv3: 32); the update is scaled by alpha / r.</summary>
    [JsonPropertyName("lora-alpha")] public double LoraAlpha { get; init; } = HpsSharp.Modeling.Lora.LoraSettings.DefaultAlpha;

    /// <summary>Dropout on the LoRA input (HPSv3: 0.05).</summary>
    [JsonPropertyName("lora-dropout")] public double LoraDropout { get; init; } = HpsSharp.Modeling.Lora.LoraSettings.DefaultDropout;

    /// <summary>Adapted layers: comma list of decoder, vision, merger or module names (q_proj, ...).</summary>
    [JsonPropertyName("lora-targets")] public string LoraTargets { get; init; } = "decoder";

    /// <summary>Recompute each decoder layer and vision block in the backward pass instead of keeping its activations.</summary>
    [JsonPropertyName("gradient-checkpointing")] public bool GradientCheckpointing { get; init; }

    /// <summary>Dropout of rm_head in training (released: 0.05); 0 makes a step deterministic (gradient parity).</summary>
    [JsonPropertyName("head-dropout")] public double HeadDropout { get; init; } = 0.05;

    /// <summary>Where tokenizer files are found when the model folder has none.</summary>
    [JsonPropertyName("tokenizer")] public string? Tokenizer { get; init; }

    [JsonIgnore]
    public LossKind LossKind => PairLoss.Parse(Loss);

    [JsonIgnore]
    public ScheduleKind ScheduleKind => LrSchedule.Parse(Schedule);

    [JsonIgnore]
    public PairFormat PairFormat => Format.Trim().ToLowerInvariant() switch
    {
        "hpdv3" or "json" => PairFormat.Hpdv3,
        "jsonl" => PairFormat.Jsonl,
        _ => throw new UserInputException("--format", $"unknown format '{Format}' (expected hpdv3 or jsonl)"),
    };

    [JsonIgnore]
    public NullConfidencePolicy NullConfidencePolicy => NullConfidence.Trim().ToLowerInvariant() switch
    {
        "keep" => NullConfidencePolicy.Keep,
        "drop" => NullConfidencePolicy.Drop,
        "error" => NullConfidencePolicy.Error,
        _ => throw new UserInputException("--null-confidence", $"unknown policy '{NullConfidence}' (expected keep, drop or error)"),
    };

    [JsonIgnore]
    public PairDataOptions DataOptions => new(ConfidenceThreshold, NullConfidencePolicy, Strict);

    /// <summary>Learning rate of a group (the group option, else <see cref="LearningRate"/>).</summary>
    public double LearningRateOf(ParameterGroup group) => group switch
    {
        ParameterGroup.Vision => VisionLr ?? LearningRate,
        ParameterGroup.Merger => MergerLr ?? LearningRate,
        ParameterGroup.Head => HeadLr ?? LearningRate,
        ParameterGroup.RewardEmbedding => SpecialTokenLr ?? LearningRate,
        _ => LearningRate,
    };

    /// <summary>Whether a group is trained under the freezing options.</summary>
    public bool Trains(ParameterGroup group) => group switch
    {
        ParameterGroup.Unused => false,
        ParameterGroup.Head => true,
        ParameterGroup.RewardEmbedding => TrainRewardToken,
        ParameterGroup.Lora => Lora && !HeadOnly,
        _ when HeadOnly || Lora => false,
        ParameterGroup.Vision => !FreezeVision,
        ParameterGroup.Merger => true,
        _ => !FreezeDecoder,
    };

    /// <summary>Checks every option; throws <see cref="UserInputException"/> naming the first bad one.</summary>
    public void Validate(bool requirePaths = true)
    {
        if (requirePaths)
        {
            Require(Model, "--model");
            Require(Data, "--data");
            Require(Out, "--out");
        }

        if (requirePaths && SameFolder(Out!, Model!))
        {
            throw new UserInputException("--out", $"'{Out}' is the input model folder: training would overwrite the weights it starts from; give another --out");
        }

        if (Resume && Overwrite)
        {
            throw new UserInputException("--overwrite", "--resume continues the run in --out and --overwrite removes it: give one of them");
        }

        _ = LossKind;
        _ = ScheduleKind;
        _ = PairFormat;
        _ = NullConfidencePolicy;
        Positive(Epochs, "--epochs");
        Positive(BatchSize, "--batch-size");
        Positive(GradAccum, "--grad-accum");
        Positive(EvalBatchSize, "--eval-batch-size");
        Positive(McSamples, "--mc-samples");
        if (MaxSteps is <= 0)
        {
            throw new UserInputException("--max-steps", $"must be a positive number of steps (got {MaxSteps})");
        }

        if (StopAfter is <= 0)
        {
            throw new UserInputException("--stop-after", $"must be a positive number of steps (got {StopAfter})");
        }

        Rate(LearningRate, "--lr");
        Rate(VisionLr, "--vision-lr");
        Rate(MergerLr, "--merger-lr");
        Rate(HeadLr, "--head-lr");
        Rate(SpecialTokenLr, "--special-token-lr");
        NonNegative(WeightDecay, "--weight-decay");
        NonNegative(MaxGradNorm, "--max-grad-norm");
        if (AdamBeta1 is < 0 or >= 1 || AdamBeta2 is < 0 or >= 1)
        {
            throw new UserInputException("--adam-beta1/--adam-beta2", $"must lie in [0, 1) (got {AdamBeta1}, {AdamBeta2})");
        }

        if (!(AdamEps > 0))
        {
            throw new UserInputException("--adam-eps", $"must be > 0 (got {AdamEps})");
        }

        if (WarmupRatio is < 0 or > 1 || double.IsNaN(WarmupRatio))
        {
            throw new UserInputException("--warmup-ratio", $"must lie in [0, 1] (got {WarmupRatio})");
        }

        if (WarmupSteps is < 0)
        {
            throw new UserInputException("--warmup-steps", $"must be ≥ 0 (got {WarmupSteps})");
        }

        if (TieThreshold is < 0 or > 1)
        {
            throw new UserInputException("--tie-threshold", $"must lie in [0, 1] (got {TieThreshold})");
        }

        if (ConfidenceThreshold is double c && (double.IsNaN(c) || c < 0))
        {
            throw new UserInputException("--confidence-threshold", $"must be ≥ 0 (got {c})");
        }

        if (EvalEvery < 0 || SaveEvery < 0)
        {
            throw new UserInputException(EvalEvery < 0 ? "--eval-every" : "--save-every", "must be ≥ 0");
        }

        if (SaveTotalLimit < 1)
        {
            throw new UserInputException("--save-total-limit", $"must be ≥ 1 (got {SaveTotalLimit})");
        }

        if (Dtype is not ("bf16" or "fp32"))
        {
            throw new UserInputException("--dtype", $"must be bf16 or fp32 (got '{Dtype}')");
        }

        if (Device is not ("cpu" or "cuda") && !Device.StartsWith("cuda:", StringComparison.Ordinal))
        {
            throw new UserInputException("--device", $"must be cpu or cuda[:N] (got '{Device}')");
        }

        if (MinPixels < 784 || MaxPixels < MinPixels)
        {
            throw new UserInputException("--min-pixels/--max-pixels", $"need 784 ≤ min ≤ max (got {MinPixels}, {MaxPixels})");
        }

        if (Lora)
        {
            new HpsSharp.Modeling.Lora.LoraSettings(LoraR, LoraAlpha, LoraDropout, [LoraTargets]).Validate();
            if (RandomInit)
            {
                throw new UserInputException("--lora", "adapts a pretrained model: it cannot be combined with --random-init (the adapter's base would not exist)");
            }

            if (FreezeDecoder || FreezeVision)
            {
                throw new UserInputException("--lora", "already freezes the backbone: leave out --freeze-decoder/--freeze-vision and choose layers with --lora-targets");
            }
        }

        if (!(HeadDropout >= 0 && HeadDropout < 1))
        {
            throw new UserInputException("--head-dropout", $"must lie in [0, 1) (got {HeadDropout})");
        }

        if (HeadOnly && !Trains(ParameterGroup.Head))
        {
            throw new UserInputException("--head-only", "nothing would be trained");
        }
    }

    /// <summary>Reads options from a JSON file (unknown keys are errors, so a typo does not silently do nothing).</summary>
    public static TrainingOptions FromJsonFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"config file '{path}' does not exist", path);
        }

        try
        {
            return JsonSerializer.Deserialize<TrainingOptions>(File.ReadAllText(path), JsonOptions)
                ?? throw new UserInputException(path, "the config file is empty (expected a JSON object of options)");
        }
        catch (JsonException ex)
        {
            throw new UserInputException(path, $"invalid training config: {ex.Message} (options are the hps train names without dashes, e.g. \"lr\", \"batch-size\")", ex);
        }
    }


    /// <summary>One line of help per option (JSON name → text), for <c>hps train --help</c> and the README.</summary>
    public static IReadOnlyDictionary<string, string> Help { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["model"] = "Model folder to fine-tune (config.json, weights, tokenizer files); with --random-init only its config.json is used",
        ["random-init"] = "Start from random weights (seeded) built from the model folder's config.json",
        ["data"] = "Training pairs; path1 is the preferred image",
        ["format"] = "hpdv3 (one JSON array, as train.json/all.json) or jsonl (one pair per line, same keys)",
        ["images"] = "Folder the image paths are relative to (default: the data file's folder)",
        ["eval-data"] = "Held-out pairs for periodic evaluation accuracy (same format)",
        ["eval-images"] = "Image root of --eval-data (default: --images, else its folder)",
        ["out"] = "Output folder: the final model (usable as --model) and checkpoints/",
        ["resume"] = "Continue from the latest checkpoint in --out (same options)",
        ["overwrite"] = "Start clean when --out holds another run (its checkpoints, run.json and weights are removed); without it such a folder is refused",
        ["epochs"] = "Passes over the data (HPSv3 yaml: 10)",
        ["max-steps"] = "Total optimizer steps (overrides epochs for the schedule and the end)",
        ["stop-after"] = "Stop after this many steps with a checkpoint, schedule unchanged (continue with --resume)",
        ["batch-size"] = "Pairs per micro-batch (yaml: 2)",
        ["grad-accum"] = "Micro-batches per optimizer step (yaml: 4)",
        ["lr"] = "Learning rate; default of every group (yaml: 2e-6)",
        ["vision-lr"] = "Learning rate of the vision tower (default: --lr)",
        ["merger-lr"] = "Learning rate of the vision merger (default: --lr)",
        ["head-lr"] = "Learning rate of rm_head (default: --lr)",
        ["special-token-lr"] = "Learning rate of the <|Reward|> embedding row (default: --lr)",
        ["weight-decay"] = "AdamW decoupled weight decay (not on biases and LayerNorm weights; yaml: 0)",
        ["adam-beta1"] = "AdamW beta1 (0.9)",
        ["adam-beta2"] = "AdamW beta2 (0.999)",
        ["adam-eps"] = "AdamW epsilon (1e-8)",
        ["max-grad-norm"] = "Clip the global gradient norm to this (1.0; 0 disables)",
        ["schedule"] = "constant_with_warmup (yaml), cosine or constant",
        ["warmup-ratio"] = "Warm-up steps as a share of all steps (yaml: 0.05)",
        ["warmup-steps"] = "Warm-up steps (overrides --warmup-ratio)",
        ["loss"] = "uncertainty (deterministic quadrature, default), uncertainty-mc (the released code's 1000-sample Monte Carlo), bt, btt, margin, hpsv2",
        ["mc-samples"] = "Samples per pair for uncertainty-mc (1000)",
        ["tie-threshold"] = "Pairs with |c1-c2|/(c1+c2) <= this are ties for bt, btt and margin (default: no ties)",
        ["confidence-threshold"] = "Keep pairs with confidence >= this (yaml: 0.95); a pair without the key is kept",
        ["null-confidence"] = "What \"confidence\": null does: keep (default, counted), drop, or error",
        ["strict"] = "Stop at the first bad row or unreadable image instead of reporting and skipping it",
        ["freeze-vision"] = "Freeze the vision tower (the merger stays trainable)",
        ["freeze-decoder"] = "Freeze the decoder layers and final norm",
        ["head-only"] = "Train only rm_head (and the <|Reward|> row unless --train-reward-token false)",
        ["train-reward-token"] = "Train the <|Reward|> embedding row, the only embedding row HPSv3 changes (default true)",
        ["seed"] = "The one seed: data order, dropout, Monte Carlo samples, random initialisation (42)",
        ["eval-every"] = "Evaluate every N steps (0: at the end of each epoch)",
        ["eval-batch-size"] = "Pairs per evaluation batch (8)",
        ["save-every"] = "Checkpoint every N steps (0: at the end of each epoch)",
        ["save-total-limit"] = "Checkpoints kept (2)",
        ["dtype"] = "bf16 (as HPSv3 trains: fp32 master weights and head) or fp32",
        ["device"] = "cpu or cuda[:N]",
        ["min-pixels"] = "Image processor min_pixels (HPSv3: 200704)",
        ["max-pixels"] = "Image processor max_pixels (HPSv3: 200704)",
        ["tokenizer"] = "Folder with the tokenizer files when the model folder has none",
        ["lora"] = "Train LoRA adapters (base weights frozen and memory-mapped) plus rm_head and the <|Reward|> row; writes a PEFT adapter folder (use a larger --lr, e.g. 1e-4)",
        ["lora-r"] = "LoRA rank (HPSv3 default: 16)",
        ["lora-alpha"] = "LoRA alpha; updates are scaled by alpha/r (HPSv3 default: 32)",
        ["lora-dropout"] = "Dropout on each adapter's input (HPSv3 default: 0.05)",
        ["lora-targets"] = "Adapted layers: comma list of decoder (default: every Linear of the decoder layers), vision, merger, or module names such as q_proj,v_proj",
        ["gradient-checkpointing"] = "Recompute each decoder layer and vision block during backward instead of storing activations (same gradients, less memory, ~1/3 more compute)",
        ["head-dropout"] = "Dropout of rm_head while training (released: 0.05; 0 = deterministic steps)",
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>
    /// Options that may change between a run and its <c>--resume</c>: where things are and how often to save or
    /// evaluate. Every other option shapes the optimisation and must stay as it was.
    /// </summary>
    public static IReadOnlySet<string> ResumableChanges { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "model", "data", "images", "eval-data", "eval-images", "out", "resume", "overwrite", "stop-after", "eval-every",
        "eval-batch-size", "save-every", "save-total-limit", "device", "tokenizer",
    };

    /// <summary>The options (as <c>--name old (now new)</c>) that differ from <paramref name="previous"/> and may not change on resume.</summary>
    public IReadOnlyList<string> DifferencesForResume(TrainingOptions previous)
    {
        ArgumentNullException.ThrowIfNull(previous);
        var before = JsonSerializer.SerializeToNode(previous, JsonOptions)!.AsObject();
        var now = JsonSerializer.SerializeToNode(this, JsonOptions)!.AsObject();
        var differ = new List<string>();
        foreach (var (name, value) in now)
        {
            if (ResumableChanges.Contains(name))
            {
                continue;
            }

            before.TryGetPropertyValue(name, out var old);
            if (!System.Text.Json.Nodes.JsonNode.DeepEquals(old, value))
            {
                differ.Add($"--{name} {old?.ToJsonString() ?? "null"} (now {value?.ToJsonString() ?? "null"})");
            }
        }

        return differ;
    }

    private static bool SameFolder(string a, string b)
    {
        static string Norm(string p)
        {
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(p));
            var info = new DirectoryInfo(full);
            return info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } t ? Path.TrimEndingDirectorySeparator(t.FullName) : full;
        }

        return string.Equals(Norm(a), Norm(b), StringComparison.Ordinal);
    }

    private static void Require(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new UserInputException(name, "is required");
        }
    }

    private static void Positive(long v, string name)
    {
        if (v <= 0)
        {
            throw new UserInputException(name, $"must be ≥ 1 (got {v})");
        }
    }

    private static void Rate(double? v, string name)
    {
        if (v is double d && (!(d >= 0) || double.IsInfinity(d)))
        {
            throw new UserInputException(name, $"must be a finite learning rate ≥ 0 (got {d})");
        }
    }

    private static void NonNegative(double v, string name)
    {
        if (!(v >= 0) || double.IsInfinity(v))
        {
            throw new UserInputException(name, $"must be a finite number ≥ 0 (got {v})");
        }
    }
}
