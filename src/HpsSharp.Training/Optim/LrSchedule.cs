using HpsSharp.Core;

namespace HpsSharp.Training.Optim;

/// <summary>Learning-rate schedules (as the Hugging Face schedulers HPSv3 uses).</summary>
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

    public static ScheduleKind Parse(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "constant_with_warmup" or "constant-with-warmup" => ScheduleKind.ConstantWithWarmup,
        "cosine" => ScheduleKind.Cosine,
        "constant" => ScheduleKind.Constant,
        _ => throw new UserInputException("--schedule", $"unknown schedule '{name}' (expected constant_with_warmup, cosine or constant)"),
    };

    public static string Name(ScheduleKind kind) => kind switch
    {
        ScheduleKind.ConstantWithWarmup => "constant_with_warmup",
        ScheduleKind.Cosine => "cosine",
        _ => "constant",
    };
}
