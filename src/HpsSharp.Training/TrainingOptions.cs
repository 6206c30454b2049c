using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Training.Data;
using HpsSharp.Training.Losses;
using HpsSharp.Training.Optim;
using Microsoft.Extensions.Configuration;

namespace HpsSharp.Training;

/// <summary>
/// The options of a training run. Each property has one key (<see cref="ConfigurationKeyNameAttribute"/>, the same in
/// the run's <c>run.json</c>): a configuration file is a JSON object of these keys, bound by
/// <see cref="FromConfiguration"/>; defaults are those of HPSv3's <c>HPSv3_7B.yaml</c> where it sets them
/// (docs/training.md#defaults). Errors name the property (<c>BatchSize</c>), never a command-line flag.
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Input model folder (config.json, weights, tokenizer files) to fine-tune, or whose config.json to use with <see cref="RandomInit"/>.</summary>
    [JsonPropertyName("model"), ConfigurationKeyName("model")] public string? Model { get; init; }

    /// <summary>Start from random weights built from the model folder's config.json instead of its weights.</summary>
    [JsonPropertyName("random-init"), ConfigurationKeyName("random-init")] public bool RandomInit { get; init; }

    /// <summary>Training pairs (path1 preferred).</summary>
    [JsonPropertyName("data"), ConfigurationKeyName("data")] public string? Data { get; init; }

    /// <summary>hpdv3 (a JSON array) or jsonl.</summary>
    [JsonPropertyName("format"), ConfigurationKeyName("format")] public PairFormat Format { get; init; } = PairFormat.Hpdv3;

    /// <summary>Folder the image paths are relative to (default: the data file's folder).</summary>
    [JsonPropertyName("images"), ConfigurationKeyName("images")] public string? Images { get; init; }

    /// <summary>Held-out pairs for periodic evaluation (same format).</summary>
    [JsonPropertyName("eval-data"), ConfigurationKeyName("eval-data")] public string? EvalData { get; init; }

    /// <summary>Image root of the evaluation pairs (default: <see cref="Images"/>, else the eval file's folder).</summary>
    [JsonPropertyName("eval-images"), ConfigurationKeyName("eval-images")] public string? EvalImages { get; init; }

    /// <summary>Output folder: the final model (a model folder the scorers load) and <c>checkpoints/</c>.</summary>
    [JsonPropertyName("out"), ConfigurationKeyName("out")] public string? Out { get; init; }

    /// <summary>Continue from the latest checkpoint in <see cref="Out"/>.</summary>
    [JsonPropertyName("resume"), ConfigurationKeyName("resume")] public bool Resume { get; init; }

    /// <summary>Start clean in an <see cref="Out"/> that holds another run: its checkpoints, run.json and final weights are removed first.</summary>
    [JsonPropertyName("overwrite"), ConfigurationKeyName("overwrite")] public bool Overwrite { get; init; }

    /// <summary>Passes over the data (yaml: 10).</summary>
    [JsonPropertyName("epochs"), ConfigurationKeyName("epochs")] public int Epochs { get; init; } = 10;

    /// <summary>Stop after this many optimizer steps (the schedule still spans all epochs unless set).</summary>
    [JsonPropertyName("max-steps"), ConfigurationKeyName("max-steps")] public long? MaxSteps { get; init; }

    /// <summary>Stop (after saving a checkpoint) once this many optimizer steps are done; the schedule is unchanged. For interrupting and resuming.</summary>
    [JsonPropertyName("stop-after"), ConfigurationKeyName("stop-after")] public long? StopAfter { get; init; }

    /// <summary>Pairs per micro-batch (yaml: 2).</summary>
    [JsonPropertyName("batch-size"), ConfigurationKeyName("batch-size")] public int BatchSize { get; init; } = 2;

    /// <summary>Micro-batches per optimizer step (yaml: 4).</summary>
    [JsonPropertyName("grad-accum"), ConfigurationKeyName("grad-accum")] public int GradAccum { get; init; } = 4;

    /// <summary>Learning rate of the decoder (and default of the other groups) (yaml: 2e-6).</summary>
    [JsonPropertyName("lr"), ConfigurationKeyName("lr")] public double LearningRate { get; init; } = 2e-6;

    [JsonPropertyName("vision-lr"), ConfigurationKeyName("vision-lr")] public double? VisionLr { get; init; }

    [JsonPropertyName("merger-lr"), ConfigurationKeyName("merger-lr")] public double? MergerLr { get; init; }

    [JsonPropertyName("head-lr"), ConfigurationKeyName("head-lr")] public double? HeadLr { get; init; }

    /// <summary>Learning rate of the &lt;|Reward|&gt; embedding row (yaml special_token_lr: 2e-6).</summary>
    [JsonPropertyName("special-token-lr"), ConfigurationKeyName("special-token-lr")] public double? SpecialTokenLr { get; init; }

    [JsonPropertyName("weight-decay"), ConfigurationKeyName("weight-decay")] public double WeightDecay { get; init; }

    [JsonPropertyName("adam-beta1"), ConfigurationKeyName("adam-beta1")] public double AdamBeta1 { get; init; } = 0.9;

    [JsonPropertyName("adam-beta2"), ConfigurationKeyName("adam-beta2")] public double AdamBeta2 { get; init; } = 0.999;

    [JsonPropertyName("adam-eps"), ConfigurationKeyName("adam-eps")] public double AdamEps { get; init; } = 1e-8;

    /// <summary>Global gradient-norm clip (HF default 1.0; 0 disables).</summary>
    [JsonPropertyName("max-grad-norm"), ConfigurationKeyName("max-grad-norm")] public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>constant_with_warmup (yaml), cosine or constant.</summary>
    [JsonPropertyName("schedule"), ConfigurationKeyName("schedule")] public ScheduleKind Schedule { get; init; } = ScheduleKind.ConstantWithWarmup;

    [JsonPropertyName("warmup-ratio"), ConfigurationKeyName("warmup-ratio")] public double WarmupRatio { get; init; } = 0.05;

    /// <summary>Overrides <see cref="WarmupRatio"/>.</summary>
    [JsonPropertyName("warmup-steps"), ConfigurationKeyName("warmup-steps")] public long? WarmupSteps { get; init; }

    /// <summary>uncertainty (deterministic, default), uncertainty-mc, bt, btt, margin, hpsv2.</summary>
    [JsonPropertyName("loss"), ConfigurationKeyName("loss")] public LossKind Loss { get; init; } = LossKind.Uncertainty;

    /// <summary>Samples per pair of uncertainty-mc (code: 1000).</summary>
    [JsonPropertyName("mc-samples"), ConfigurationKeyName("mc-samples")] public int McSamples { get; init; } = PairLosses.DefaultSamples;

    /// <summary>Pairs with |(c1 − c2)/(c1 + c2)| ≤ this are ties (for bt, btt, margin); null: no ties (yaml).</summary>
    [JsonPropertyName("tie-threshold"), ConfigurationKeyName("tie-threshold")] public double? TieThreshold { get; init; }

    /// <summary>Keep pairs with confidence ≥ this (yaml 0.95); a missing key is kept.</summary>
    [JsonPropertyName("confidence-threshold"), ConfigurationKeyName("confidence-threshold")] public double? ConfidenceThreshold { get; init; } = 0.95;

    /// <summary>keep, drop or error: what an explicit "confidence": null does.</summary>
    [JsonPropertyName("null-confidence"), ConfigurationKeyName("null-confidence")] public NullConfidencePolicy NullConfidence { get; init; } = NullConfidencePolicy.Keep;

    /// <summary>Stop at the first bad row or unreadable image instead of skipping it.</summary>
    [JsonPropertyName("strict"), ConfigurationKeyName("strict")] public bool Strict { get; init; }

    /// <summary>Freeze the vision tower (not the merger).</summary>
    [JsonPropertyName("freeze-vision"), ConfigurationKeyName("freeze-vision")] public bool FreezeVision { get; init; }

    /// <summary>Freeze the decoder layers and final norm.</summary>
    [JsonPropertyName("freeze-decoder"), ConfigurationKeyName("freeze-decoder")] public bool FreezeDecoder { get; init; }

    /// <summary>Freeze everything but rm_head (and the reward row unless <see cref="TrainRewardToken"/> is false).</summary>
    [JsonPropertyName("head-only"), ConfigurationKeyName("head-only")] public bool HeadOnly { get; init; }

    /// <summary>Train the &lt;|Reward|&gt; embedding row (as HPSv3 does).</summary>
    [JsonPropertyName("train-reward-token"), ConfigurationKeyName("train-reward-token")] public bool TrainRewardToken { get; init; } = true;

    /// <summary>The one seed: data order, dropout, Monte Carlo samples, random initialisation.</summary>
    [JsonPropertyName("seed"), ConfigurationKeyName("seed")] public long Seed { get; init; } = 42;

    /// <summary>Evaluate on <see cref="EvalData"/> every N optimizer steps (0: at the end of each epoch only).</summary>
    [JsonPropertyName("eval-every"), ConfigurationKeyName("eval-every")] public long EvalEvery { get; init; }

    [JsonPropertyName("eval-batch-size"), ConfigurationKeyName("eval-batch-size")] public int EvalBatchSize { get; init; } = 8;

    /// <summary>Write a checkpoint every N optimizer steps (0: at the end of each epoch only).</summary>
    [JsonPropertyName("save-every"), ConfigurationKeyName("save-every")] public long SaveEvery { get; init; }

    /// <summary>Checkpoints kept in out/checkpoints (oldest removed).</summary>
    [JsonPropertyName("save-total-limit"), ConfigurationKeyName("save-total-limit")] public int SaveTotalLimit { get; init; } = 2;

    /// <summary>bf16 (as HPSv3 trains; fp32 master weights in the optimizer, fp32 head) or fp32.</summary>
    [JsonPropertyName("dtype"), ConfigurationKeyName("dtype")] public Precision Dtype { get; init; } = Precision.Bf16;

    [JsonPropertyName("device"), ConfigurationKeyName("device")] public DeviceSpec Device { get; init; } = DeviceSpec.Cpu;

    [JsonPropertyName("min-pixels"), ConfigurationKeyName("min-pixels")] public int MinPixels { get; init; } = SmartResize.Hpsv3Pixels;

    [JsonPropertyName("max-pixels"), ConfigurationKeyName("max-pixels")] public int MaxPixels { get; init; } = SmartResize.Hpsv3Pixels;

    /// <summary>
    /// Train LoRA adapters instead of the backbone: the base weights stay frozen (and memory-mapped); trained are the
    /// LoRA matrices, rm_head and the &lt;|Reward|&gt; row. The output is a PEFT adapter folder.
    /// </summary>
    [JsonPropertyName("lora"), ConfigurationKeyName("lora")] public bool Lora { get; init; }

    /// <summary>LoRA rank (HPSv3 PEFTLoraConfig: 16).</summary>
    [JsonPropertyName("lora-r"), ConfigurationKeyName("lora-r")] public int LoraR { get; init; } = HpsSharp.Modeling.Lora.LoraSettings.DefaultR;

    /// <summary>LoRA alpha (HPSv3: 32); the update is scaled by alpha / r.</summary>
    [JsonPropertyName("lora-alpha"), ConfigurationKeyName("lora-alpha")] public double LoraAlpha { get; init; } = HpsSharp.Modeling.Lora.LoraSettings.DefaultAlpha;

    /// <summary>Dropout on the LoRA input (HPSv3: 0.05).</summary>
    [JsonPropertyName("lora-dropout"), ConfigurationKeyName("lora-dropout")] public double LoraDropout { get; init; } = HpsSharp.Modeling.Lora.LoraSettings.DefaultDropout;

    /// <summary>Adapted layers: comma list of decoder, vision, merger or module names (q_proj, ...).</summary>
    [JsonPropertyName("lora-targets"), ConfigurationKeyName("lora-targets")] public string LoraTargets { get; init; } = "decoder";

    /// <summary>Recompute each decoder layer and vision block in the backward pass instead of keeping its activations.</summary>
    [JsonPropertyName("gradient-checkpointing"), ConfigurationKeyName("gradient-checkpointing")] public bool GradientCheckpointing { get; init; }

    /// <summary>Dropout of rm_head in training (released: 0.05); 0 makes a step deterministic (gradient parity).</summary>
    [JsonPropertyName("head-dropout"), ConfigurationKeyName("head-dropout")] public double HeadDropout { get; init; } = 0.05;

    /// <summary>Where tokenizer files are found when the model folder has none.</summary>
    [JsonPropertyName("tokenizer"), ConfigurationKeyName("tokenizer")] public string? Tokenizer { get; init; }

    [JsonIgnore]
    public PairDataOptions DataOptions => new(ConfidenceThreshold, NullConfidence, Strict);

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

    /// <summary>Checks every option; throws a <see cref="UserInputException"/> naming the first bad field (<see cref="UserInputException.Field"/>).</summary>
    public void Validate(bool requirePaths = true)
    {
        if (requirePaths)
        {
            Require(Model, nameof(Model));
            Require(Data, nameof(Data));
            Require(Out, nameof(Out));
        }

        if (requirePaths && SameFolder(Out!, Model!))
        {
            throw UserInputException.ForOption(nameof(Out), $"'{Out}' is the input model folder: training would overwrite the weights it starts from; give another {F(nameof(Out))}");
        }

        if (Resume && Overwrite)
        {
            throw UserInputException.ForOption(nameof(Overwrite), $"{F(nameof(Resume))} continues the run in {F(nameof(Out))} and {F(nameof(Overwrite))} removes it: give one of them");
        }

        Defined(Loss, PairLoss.Spelling);
        Defined(Schedule, LrSchedule.Spelling);
        Defined(Format, PairSpellings.Format);
        Defined(NullConfidence, PairSpellings.NullConfidence);
        Defined(Dtype, Precisions.Spelling);
        if (Device.Kind is not (ComputeDevice.Cpu or ComputeDevice.Cuda) || Device.Index is < 0)
        {
            throw UserInputException.ForOption(nameof(Device), $"must be {DeviceSpec.Expected} (got '{Device}')");
        }

        Positive(Epochs, nameof(Epochs));
        Positive(BatchSize, nameof(BatchSize));
        Positive(GradAccum, nameof(GradAccum));
        Positive(EvalBatchSize, nameof(EvalBatchSize));
        Positive(McSamples, nameof(McSamples));
        if (MaxSteps is <= 0)
        {
            throw UserInputException.ForOption(nameof(MaxSteps), $"must be a positive number of steps (got {MaxSteps})");
        }

        if (StopAfter is <= 0)
        {
            throw UserInputException.ForOption(nameof(StopAfter), $"must be a positive number of steps (got {StopAfter})");
        }

        Rate(LearningRate, nameof(LearningRate));
        Rate(VisionLr, nameof(VisionLr));
        Rate(MergerLr, nameof(MergerLr));
        Rate(HeadLr, nameof(HeadLr));
        Rate(SpecialTokenLr, nameof(SpecialTokenLr));
        NonNegative(WeightDecay, nameof(WeightDecay));
        NonNegative(MaxGradNorm, nameof(MaxGradNorm));
        if (AdamBeta1 is < 0 or >= 1 || double.IsNaN(AdamBeta1))
        {
            throw UserInputException.ForOption(nameof(AdamBeta1), $"must lie in [0, 1) (got {AdamBeta1})");
        }

        if (AdamBeta2 is < 0 or >= 1 || double.IsNaN(AdamBeta2))
        {
            throw UserInputException.ForOption(nameof(AdamBeta2), $"must lie in [0, 1) (got {AdamBeta2})");
        }

        if (!(AdamEps > 0))
        {
            throw UserInputException.ForOption(nameof(AdamEps), $"must be > 0 (got {AdamEps})");
        }

        if (WarmupRatio is < 0 or > 1 || double.IsNaN(WarmupRatio))
        {
            throw UserInputException.ForOption(nameof(WarmupRatio), $"must lie in [0, 1] (got {WarmupRatio})");
        }

        if (WarmupSteps is < 0)
        {
            throw UserInputException.ForOption(nameof(WarmupSteps), $"must be ≥ 0 (got {WarmupSteps})");
        }

        if (TieThreshold is < 0 or > 1)
        {
            throw UserInputException.ForOption(nameof(TieThreshold), $"must lie in [0, 1] (got {TieThreshold})");
        }

        if (ConfidenceThreshold is double c && (double.IsNaN(c) || c < 0))
        {
            throw UserInputException.ForOption(nameof(ConfidenceThreshold), $"must be ≥ 0 (got {c})");
        }

        if (EvalEvery < 0 || SaveEvery < 0)
        {
            throw UserInputException.ForOption(EvalEvery < 0 ? nameof(EvalEvery) : nameof(SaveEvery), $"must be ≥ 0");
        }

        if (SaveTotalLimit < 1)
        {
            throw UserInputException.ForOption(nameof(SaveTotalLimit), $"must be ≥ 1 (got {SaveTotalLimit})");
        }

        if (MinPixels < 784 || MaxPixels < MinPixels)
        {
            throw UserInputException.ForOption(MinPixels < 784 ? nameof(MinPixels) : nameof(MaxPixels), $"need 784 ≤ {F(nameof(MinPixels))} ≤ {F(nameof(MaxPixels))} (got {MinPixels}, {MaxPixels})");
        }

        if (Lora)
        {
            new HpsSharp.Modeling.Lora.LoraSettings(LoraR, LoraAlpha, LoraDropout, [LoraTargets]).Validate();
            if (RandomInit)
            {
                throw UserInputException.ForOption(nameof(Lora), $"adapts a pretrained model: it cannot be combined with {F(nameof(RandomInit))} (the adapter's base would not exist)");
            }

            if (FreezeDecoder || FreezeVision)
            {
                throw UserInputException.ForOption(nameof(Lora), $"already freezes the backbone: leave out {F(nameof(FreezeDecoder))}/{F(nameof(FreezeVision))} and choose layers with {F(nameof(LoraTargets))}");
            }
        }

        if (!(HeadDropout >= 0 && HeadDropout < 1))
        {
            throw UserInputException.ForOption(nameof(HeadDropout), $"must lie in [0, 1) (got {HeadDropout})");
        }

        if (HeadOnly && !Trains(ParameterGroup.Head))
        {
            throw UserInputException.ForOption(nameof(HeadOnly), $"nothing would be trained");
        }
    }

    /// <summary>The configuration key of each property (<c>batch-size</c> for <see cref="BatchSize"/>), from its <see cref="ConfigurationKeyNameAttribute"/>.</summary>
    public static IReadOnlyDictionary<string, string> KeyOfField { get; } = typeof(TrainingOptions).GetProperties()
        .Where(p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>() is not null)
        .ToDictionary(p => p.Name, p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>()!.Name, StringComparer.Ordinal);

    private static readonly Dictionary<string, PropertyInfo> PropertyOfKey = typeof(TrainingOptions).GetProperties()
        .Where(p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>() is not null)
        .ToDictionary(p => p.GetCustomAttribute<ConfigurationKeyNameAttribute>()!.Name, p => p, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Binds options from configuration (a JSON file, the command line, anything): keys are those of
    /// <see cref="KeyOfField"/>, values strings as configuration holds them; <c>null</c> (or an empty value) clears a
    /// nullable option. Unknown keys and values of the wrong type are refused with the key or field named, so a typo
    /// never silently does nothing. Does not <see cref="Validate"/>.
    /// </summary>
    /// <exception cref="UserInputException">An unknown key, a structured value, or a value that is not of the option's type.</exception>
    public static TrainingOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var cleared = new List<PropertyInfo>();
        foreach (var child in configuration.GetChildren())
        {
            if (!PropertyOfKey.TryGetValue(child.Key, out var p))
            {
                throw new UserInputException(UnknownKeyInput, $"unknown key '{child.Key}' (the keys are the documented option names, e.g. \"lr\", \"batch-size\")");
            }

            if (child.GetChildren().Any())
            {
                throw UserInputException.ForOption(p.Name, $"must be a single value, not an object or array");
            }

            var type = Nullable.GetUnderlyingType(p.PropertyType);
            bool nullable = type is not null || p.PropertyType == typeof(string);
            if (string.IsNullOrEmpty(child.Value) || child.Value.Equals("null", StringComparison.OrdinalIgnoreCase))
            {
                if (!nullable)
                {
                    throw UserInputException.ForOption(p.Name, $"needs a value");
                }

                cleared.Add(p);
                continue;
            }

            CheckValue(p, type ?? p.PropertyType, child.Value);
            values[child.Key] = child.Value;
        }

        var options = new TrainingOptions();
        // Unknown keys were refused above against the ConfigurationKeyName table: the binder's own
        // ErrorOnUnknownConfiguration compares keys with CLR property names (dotnet/runtime#119114, still so in
        // Binder 10.0.5), so it rejects "batch-size" and would accept "BatchSize", which binds nothing.
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().Bind(options);

        // Binding skips absent values; an explicit null must clear the option even where its default is not null
        // (confidence-threshold: null keeps every pair).
        return cleared.Any(p => p.Name == nameof(ConfidenceThreshold)) ? options with { ConfidenceThreshold = null } : options;
    }

    private const string UnknownKeyInput = "training options";

    private static void CheckValue(PropertyInfo property, Type type, string value)
    {
        try
        {
            _ = TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
        }
        catch (UserInputException ex) when (ex.Field is not null)
        {
            throw UserInputException.ForOption(property.Name, $"{ex.Reason}", ex);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException or OverflowException)
        {
            var expected = type == typeof(int) || type == typeof(long) ? "a whole number"
                : type == typeof(double) ? "a number"
                : type == typeof(bool) ? "true or false"
                : type.Name;
            throw UserInputException.ForOption(property.Name, $"'{value}' is not {expected}", ex);
        }
    }

    /// <summary>
    /// Reads options from a JSON configuration file (an object of option keys). Relative paths in it are relative to
    /// the file's folder. An unknown key or a file that is not a JSON object is an error naming the file; a mistyped
    /// value is an error naming its field (<see cref="UserInputException.Field"/>).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UserInputException">The file is not a JSON object of known options.</exception>
    public static TrainingOptions FromJsonFile(string path)
    {
        try
        {
            return FromConfiguration(new ConfigurationBuilder().AddTrainingJsonFile(path).Build());
        }
        catch (UserInputException ex) when (ex.Input == UnknownKeyInput)
        {
            throw new UserInputException(path, $"invalid training config: {ex.Reason}", ex);
        }
    }

    /// <summary>The keys whose values are paths: relative ones in a configuration file are relative to that file.</summary>
    public static IReadOnlyList<string> PathKeys { get; } = ["model", "data", "images", "eval-data", "eval-images", "out", "tokenizer"];

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
    /// Options that may change between a run and its resumption: where things are and how often to save or
    /// evaluate. Every other option shapes the optimisation and must stay as it was.
    /// </summary>
    public static IReadOnlySet<string> ResumableChanges { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        nameof(Model), nameof(Data), nameof(Images), nameof(EvalData), nameof(EvalImages), nameof(Out), nameof(Resume), nameof(Overwrite),
        nameof(StopAfter), nameof(EvalEvery), nameof(EvalBatchSize), nameof(SaveEvery), nameof(SaveTotalLimit), nameof(Device), nameof(Tokenizer),
    };

    /// <summary>The options that differ from <paramref name="previous"/> and may not change on resume, with both values as JSON.</summary>
    public IReadOnlyList<OptionDifference> DifferencesForResume(TrainingOptions previous)
    {
        ArgumentNullException.ThrowIfNull(previous);
        var before = JsonSerializer.SerializeToNode(previous, JsonOptions)!.AsObject();
        var now = JsonSerializer.SerializeToNode(this, JsonOptions)!.AsObject();
        var fieldOfKey = KeyOfField.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
        var differ = new List<OptionDifference>();
        foreach (var (key, value) in now)
        {
            var field = fieldOfKey[key];
            if (ResumableChanges.Contains(field))
            {
                continue;
            }

            before.TryGetPropertyValue(key, out var old);
            if (!JsonNode.DeepEquals(old, value))
            {
                differ.Add(new OptionDifference(field, old?.ToJsonString() ?? "null", value?.ToJsonString() ?? "null"));
            }
        }

        return differ;
    }

    private static OptionField F(string field) => new(field);

    private static void Defined<T>(T value, EnumSpelling<T> spelling)
        where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            throw UserInputException.ForOption(spelling.Field, $"unknown value {value} (expected {spelling.Expected})");
        }
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

    private static void Require(string? value, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw UserInputException.ForOption(field, $"is required");
        }
    }

    private static void Positive(long v, string field)
    {
        if (v <= 0)
        {
            throw UserInputException.ForOption(field, $"must be ≥ 1 (got {v})");
        }
    }

    private static void Rate(double? v, string field)
    {
        if (v is double d && (!(d >= 0) || double.IsInfinity(d)))
        {
            throw UserInputException.ForOption(field, $"must be a finite learning rate ≥ 0 (got {d})");
        }
    }

    private static void NonNegative(double v, string field)
    {
        if (!(v >= 0) || double.IsInfinity(v))
        {
            throw UserInputException.ForOption(field, $"must be a finite number ≥ 0 (got {v})");
        }
    }
}

/// <summary>An option that differs between a checkpoint and its resumption.</summary>
/// <param name="Field">The option's property name.</param>
/// <param name="Before">Its value in the checkpoint (JSON).</param>
/// <param name="Now">Its value now (JSON).</param>
public sealed record OptionDifference(string Field, string Before, string Now);

/// <summary>Configuration sources for <see cref="TrainingOptions"/>.</summary>
public static class TrainingConfiguration
{
    /// <summary>
    /// Adds a JSON configuration file of training options; relative paths it sets (<see cref="TrainingOptions.PathKeys"/>)
    /// are resolved against the file's folder.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="UserInputException">The file is not a JSON object.</exception>
    public static IConfigurationBuilder AddTrainingJsonFile(this IConfigurationBuilder builder, string path)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"config file '{path}' does not exist", path);
        }

        IConfigurationRoot file;
        try
        {
            file = new ConfigurationBuilder().AddJsonFile(full, optional: false, reloadOnChange: false).Build();
        }
        catch (InvalidDataException ex)
        {
            Exception inner = ex;
            while (inner.InnerException is not null)
            {
                inner = inner.InnerException;
            }

            throw new UserInputException(path, $"invalid training config: {inner.Message.ReplaceLineEndings(" ")} (expected a JSON object of options)", ex);
        }

        var dir = Path.GetDirectoryName(full)!;
        var resolved = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in TrainingOptions.PathKeys)
        {
            if (file[key] is { Length: > 0 } v && !v.Equals("null", StringComparison.OrdinalIgnoreCase) && !Path.IsPathRooted(v))
            {
                resolved[key] = Path.GetFullPath(Path.Combine(dir, v));
            }
        }

        return builder.AddConfiguration(file).AddInMemoryCollection(resolved);
    }
}
