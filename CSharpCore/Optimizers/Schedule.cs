namespace Functional.Optimizers;

/// <summary>A value (usually a learning rate) as a function of the step count (0 first).</summary>
public delegate double Schedule(long step);

/// <summary>Learning-rate schedules.</summary>
public static class Schedules
{
    /// <summary>Always <paramref name="value"/>.</summary>
    public static Schedule Constant(double value) => _ => value;

    /// <summary><paramref name="initial"/> multiplied by <paramref name="factor"/> every
    /// <paramref name="stepSize"/> steps (step decay).</summary>
    public static Schedule Step(double initial, long stepSize, double factor) =>
        stepSize > 0 ? step => initial * Math.Pow(factor, step / stepSize) : throw new ArgumentOutOfRangeException(nameof(stepSize));

    /// <summary>initial * rate^(step / decaySteps), continuously.</summary>
    public static Schedule Exponential(double initial, long decaySteps, double rate) =>
        decaySteps > 0 ? step => initial * Math.Pow(rate, (double)step / decaySteps) : throw new ArgumentOutOfRangeException(nameof(decaySteps));

    /// <summary>Cosine decay from <paramref name="initial"/> to initial * <paramref name="alpha"/>
    /// over <paramref name="decaySteps"/>, then constant.</summary>
    public static Schedule Cosine(double initial, long decaySteps, double alpha = 0) =>
        decaySteps > 0
            ? step =>
            {
                double progress = Math.Min(step, decaySteps) / (double)decaySteps;
                return initial * ((1 - alpha) * 0.5 * (1 + Math.Cos(Math.PI * progress)) + alpha);
            }
            : throw new ArgumentOutOfRangeException(nameof(decaySteps));

    /// <summary>Linear from <paramref name="start"/> to <paramref name="end"/> over
    /// <paramref name="steps"/>, then constant.</summary>
    public static Schedule Linear(double start, double end, long steps) =>
        steps > 0 ? step => start + (end - start) * Math.Min(step, steps) / steps : throw new ArgumentOutOfRangeException(nameof(steps));

    /// <summary>Linear warm-up from 0 to <paramref name="peak"/> over <paramref name="warmupSteps"/>,
    /// then cosine decay to peak * <paramref name="alpha"/> over the remaining
    /// <paramref name="totalSteps"/> - warmupSteps.</summary>
    public static Schedule WarmupCosine(double peak, long warmupSteps, long totalSteps, double alpha = 0)
    {
        if (warmupSteps < 0 || totalSteps <= warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), "Need 0 <= warmupSteps < totalSteps.");
        var decay = Cosine(peak, totalSteps - warmupSteps, alpha);
        return step => step < warmupSteps ? peak * (step + 1) / warmupSteps : decay(step - warmupSteps);
    }
}
