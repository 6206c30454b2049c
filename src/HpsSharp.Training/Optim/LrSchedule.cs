using HpsSharp.Core;

namespace HpsSharp.Training.Optim;

/// <summary>Learning-rate schedules (as the Hugging Face schedulers HPSv3 uses), spelled as <see cref="LrSchedule.Spelling"/> says.</summary>
[System.ComponentModel.TypeConverter(typeof(ScheduleKindTypeConverter))]
[System.Text.Json.Serialization.JsonConverter(typeof(ScheduleKindJsonConverter))]
public enum ScheduleKind
{
    /// <summary>Linear warm-up from 0, then constant (HPSv3's <c>constant_with_warmup</c>).</summary>
    ConstantWithWarmup,

    /// <summary>Linear warm-up, then half a cosine down to 0 (<c>get_cosine_schedule_with_warmup</c>).</summary>
    Cosine,

    /// <summary>Constant, no warm-up.</summary>
    Constant,
}

/// <summary>The multiplier of the base learning rate at optimizer step t (t = steps already taken, from 0).</summary>
public sealed record LrSchedule(ScheduleKind Kind, long WarmupSteps, long TotalSteps)
{
    public double Factor(long step)
    {
        if (Kind == ScheduleKind.Constant)
        {
            return 1;
        }

        if (step < WarmupSteps)
        {
            return (double)step / Math.Max(1, WarmupSteps);
        }

        if (Kind == ScheduleKind.ConstantWithWarmup)
        {
            return 1;
        }

        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))));
    }

    /// <summary>Warm-up steps from a ratio as HF computes them: ceil(total × ratio).</summary>
    public static long WarmupFromRatio(long totalSteps, double ratio) => (long)Math.Ceiling(totalSteps * ratio);

    /// <summary>The one spelling of the schedules: constant_with_warmup (HPSv3's), cosine, constant.</summary>
    public static EnumSpelling<ScheduleKind> Spelling { get; } = new("Schedule",
        (ScheduleKind.ConstantWithWarmup, ["constant_with_warmup", "constant-with-warmup"]),
        (ScheduleKind.Cosine, ["cosine"]),
        (ScheduleKind.Constant, ["constant"]));

    /// <summary>Parses a schedule name; an unknown one names the <c>Schedule</c> field.</summary>
    public static ScheduleKind Parse(string name) => Spelling.Parse(name);

    /// <summary>The name of a kind.</summary>
    public static string Name(ScheduleKind kind) => Spelling.Name(kind);
}

internal sealed class ScheduleKindTypeConverter() : SpellingTypeConverter<ScheduleKind>(LrSchedule.Spelling);

internal sealed class ScheduleKindJsonConverter() : SpellingJsonConverter<ScheduleKind>(LrSchedule.Spelling);
