namespace Engine.Training;

public enum ScheduleKind { Constant, Linear, Cosine }

/// <summary>Linear warmup from 0 to Peak over WarmupSteps, then constant, linear or cosine decay to Peak·MinRatio at TotalSteps.</summary>
public sealed record LearningRateSchedule(ScheduleKind Kind, float Peak, int WarmupSteps, int TotalSteps, float MinRatio = 0.1f)
{
    /// <summary>The learning rate of optimizer step `step` (1-based).</summary>
    public float At(int step)
    {
        if (step <= WarmupSteps) return Peak * step / WarmupSteps;
        if (Kind == ScheduleKind.Constant || TotalSteps <= WarmupSteps) return Peak;
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps));
        double decay = Kind == ScheduleKind.Linear ? 1 - progress : 0.5 * (1 + Math.Cos(Math.PI * progress));
        return (float)(Peak * (MinRatio + (1 - MinRatio) * decay));
    }
}
