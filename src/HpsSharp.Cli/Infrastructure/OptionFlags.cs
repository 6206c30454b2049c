using HpsSharp.Annotation;
using HpsSharp.Cluster;
using HpsSharp.Cohp;
using HpsSharp.Core;
using HpsSharp.Hub.Checkpoints;
using HpsSharp.Modeling.Scorers;
using HpsSharp.Training;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// The one table from library option fields to command-line flags. Libraries name fields (<c>Out</c>,
/// <c>BatchSize</c>) in their <see cref="UserInputException"/>s; the CLI prints the flag the user typed. Commands also
/// declare their options from it (<c>hps train</c> entirely), so a flag is spelled once.
/// </summary>
public static class OptionFlags
{
    // A field name means the same option in every library that uses it (Out is --out for training, LoRA merging,
    // conversion and cluster results alike), so the table is keyed by name alone.
    private static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        // hps train: every TrainingOptions property; the flag is "--" + its configuration key (a test checks).
        { nameof(TrainingOptions.Model), "--model" },
        { nameof(TrainingOptions.RandomInit), "--random-init" },
        { nameof(TrainingOptions.Data), "--data" },
        { nameof(TrainingOptions.Format), "--format" },
        { nameof(TrainingOptions.Images), "--images" },
        { nameof(TrainingOptions.EvalData), "--eval-data" },
        { nameof(TrainingOptions.EvalImages), "--eval-images" },
        { nameof(TrainingOptions.Out), "--out" },
        { nameof(TrainingOptions.Resume), "--resume" },
        { nameof(TrainingOptions.Overwrite), "--overwrite" },
        { nameof(TrainingOptions.Epochs), "--epochs" },
        { nameof(TrainingOptions.MaxSteps), "--max-steps" },
        { nameof(TrainingOptions.StopAfter), "--stop-after" },
        { nameof(TrainingOptions.BatchSize), "--batch-size" },
        { nameof(TrainingOptions.GradAccum), "--grad-accum" },
        { nameof(TrainingOptions.LearningRate), "--lr" },
        { nameof(TrainingOptions.VisionLr), "--vision-lr" },
        { nameof(TrainingOptions.MergerLr), "--merger-lr" },
        { nameof(TrainingOptions.HeadLr), "--head-lr" },
        { nameof(TrainingOptions.SpecialTokenLr), "--special-token-lr" },
        { nameof(TrainingOptions.WeightDecay), "--weight-decay" },
        { nameof(TrainingOptions.AdamBeta1), "--adam-beta1" },
        { nameof(TrainingOptions.AdamBeta2), "--adam-beta2" },
        { nameof(TrainingOptions.AdamEps), "--adam-eps" },
        { nameof(TrainingOptions.MaxGradNorm), "--max-grad-norm" },
        { nameof(TrainingOptions.Schedule), "--schedule" },
        { nameof(TrainingOptions.WarmupRatio), "--warmup-ratio" },
        { nameof(TrainingOptions.WarmupSteps), "--warmup-steps" },
        { nameof(TrainingOptions.Loss), "--loss" },
        { nameof(TrainingOptions.McSamples), "--mc-samples" },
        { nameof(TrainingOptions.TieThreshold), "--tie-threshold" },
        { nameof(TrainingOptions.ConfidenceThreshold), "--confidence-threshold" },
        { nameof(TrainingOptions.NullConfidence), "--null-confidence" },
        { nameof(TrainingOptions.Strict), "--strict" },
        { nameof(TrainingOptions.FreezeVision), "--freeze-vision" },
        { nameof(TrainingOptions.FreezeDecoder), "--freeze-decoder" },
        { nameof(TrainingOptions.HeadOnly), "--head-only" },
        { nameof(TrainingOptions.TrainRewardToken), "--train-reward-token" },
        { nameof(TrainingOptions.Seed), "--seed" }, // also CohpOptions.Seed
        { nameof(TrainingOptions.EvalEvery), "--eval-every" },
        { nameof(TrainingOptions.EvalBatchSize), "--eval-batch-size" },
        { nameof(TrainingOptions.SaveEvery), "--save-every" },
        { nameof(TrainingOptions.SaveTotalLimit), "--save-total-limit" },
        { nameof(TrainingOptions.Dtype), "--dtype" }, // also Precisions' parse errors
        { nameof(TrainingOptions.Device), "--device" },
        { nameof(TrainingOptions.MinPixels), "--min-pixels" },
        { nameof(TrainingOptions.MaxPixels), "--max-pixels" },
        { nameof(TrainingOptions.Lora), "--lora" },
        { nameof(TrainingOptions.LoraR), "--lora-r" }, // also LoraSettings
        { nameof(TrainingOptions.LoraAlpha), "--lora-alpha" },
        { nameof(TrainingOptions.LoraDropout), "--lora-dropout" },
        { nameof(TrainingOptions.LoraTargets), "--lora-targets" },
        { nameof(TrainingOptions.GradientCheckpointing), "--gradient-checkpointing" },
        { nameof(TrainingOptions.HeadDropout), "--head-dropout" },
        { nameof(TrainingOptions.Tokenizer), "--tokenizer" },

        // hps cohp
        { nameof(CohpOptions.ImagesPerGenerator), "--images-per-generator" },
        { nameof(CohpOptions.Rounds), "--rounds" },
        { nameof(CohpOptions.CandidatesPerRound), "--candidates" },
        { nameof(CohpOptions.Strengths), "--strengths" },
        { nameof(CohpOptions.Threshold), "--threshold" },
        { nameof(CohpOptions.StartCompetes), "--start-competes" },
        { nameof(CohpOptions.EarlyStop), "--early-stop" },
        { nameof(CohpOptions.Generators), "--use" },

        // scorers, conversion, cluster
        { ScorerRegistry.ScorerField, "--scorer" },
        { nameof(ConvertOptions.MaxShardBytes), "--shard-size" },
        { nameof(ClusterAddress), "--cluster" },
        { nameof(JobSubmission.Requests), "--manifest" },
        { nameof(JobSubmission.Job), "--job" },
        { nameof(JobSubmission.OutPath), "--out" },
        { nameof(JobSubmission.Fingerprint), "--model-fingerprint" },

        // hps doctor
        { nameof(HpsSharp.Diagnostics.DoctorOptions.ModelDir), "--model" },
        { nameof(HpsSharp.Diagnostics.DoctorOptions.VerifyChecksums), "--verify" },

        // hps model download
        { nameof(HpsSharp.Hub.HubOptions.Endpoint), "--endpoint" },
        { nameof(HpsSharp.Hub.HubOptions.CacheDir), "--cache-dir" },

        // hps serve
        { nameof(HpsSharp.Server.RewardServiceOptions.Calibration), "--calibration" },
        { nameof(HpsSharp.Server.RewardServiceOptions.Calibrations), "--calibration-for" },
        { "Scorers", "--scorers" },
        { "ModelFor", "--model-for" },

        // hps annotate
        { nameof(AnnotationAppOptions.ImagesRoot), "--images" },
        { nameof(AnnotationAppOptions.Database), "--db" },
    };

    /// <summary>Renders <see cref="OptionField"/>s in a library's text as their flags (e.g. a library's log lines).</summary>
    public static IFormatProvider Names { get; } = new OptionNameFormat(Of);

    /// <summary>Every field the table knows.</summary>
    public static IReadOnlyCollection<string> Fields => Flags.Keys;

    /// <summary>
    /// The flag of a library field. A field missing from the table falls back to its kebab-case name
    /// (<c>FooBar</c> → <c>--foo-bar</c>) so a message never shows a C# name.
    /// </summary>
    public static string Of(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        return Flags.TryGetValue(field, out var flag) ? flag : "--" + Kebab(field);
    }

    /// <summary>An error's message with every option field printed as its flag.</summary>
    public static string Describe(Exception ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        return ex is HpsException h ? h.Describe(Of) : ex.Message;
    }

    private static string Kebab(string name)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                sb.Append('-');
            }

            sb.Append(char.ToLowerInvariant(name[i]));
        }

        return sb.ToString();
    }
}
