namespace Functional.Optimizers;

/// <summary>A value (usually a learning rate) as a function of the step count (0 first).</summary>
public delegate double Schedule(long step);

/// <summary>Learning-rate schedules. Their arguments are checked when a schedule is made: a
/// NaN, negative or out-of-range value is an <see cref="ArgumentOutOfRangeException"/>.</summary>
public static class Schedules
{
    /// <summary>Always <paramref name="value"/> (finite, at least 0).</summary>
    public static Schedule Constant(double value)
    {
        Hyperparameter.NonNegative(value, nameof(value));
        return _ => value;
    }

    /// <summary><paramref name="initial"/> multiplied by <paramref name="factor"/> every
    /// <paramref name="stepSize"/> steps (step decay).</summary>
    public static Schedule Step(double initial, long stepSize, double factor)
    {
        Hyperparameter.NonNegative(initial, nameof(initial));
        Hyperparameter.Steps(stepSize, nameof(stepSize));
        Hyperparameter.Positive(factor, nameof(factor));
        return step => initial * Math.Pow(factor, step / stepSize);
    }

    /// <summary>initial * rate^(step / decaySteps), continuously.</summary>
    public static Schedule Exponential(double initial, long decaySteps, double rate)
    {
        Hyperparameter.NonNegative(initial, nameof(initial));
        Hyperparameter.Steps(decaySteps, nameof(decaySteps));
        Hyperparameter.Positive(rate, nameof(rate));
        return step => initial * Math.Pow(rate, (double)step / decaySteps);
    }

    /// <summary>Cosine decay from <paramref name="initial"/> to initial * <paramref name="alpha"/>
    /// over <paramref name="decaySteps"/>, then constant.</summary>
    public static Schedule Cosine(double initial, long decaySteps, double alpha = 0)
    {
        Hyperparameter.NonNegative(initial, nameof(initial));
        Hyperparameter.Steps(decaySteps, nameof(decaySteps));
        Hyperparameter.Fraction(alpha, nameof(alpha));
        return step =>
        {
            double progress = Math.Min(step, decaySteps) / (double)decaySteps;
            return initial * ((1 - alpha) * 0.5 * (1 + Math.Cos(Math.PI * progress)) + alpha);
        };
    }

    /// <summary>Linear from <paramref name="start"/> to <paramref name="end"/> over
    /// <paramref name="steps"/>, then constant.</summary>
    public static Schedule Linear(double start, double end, long steps)
    {
        Hyperparameter.NonNegative(start, nameof(start));
        Hyperparameter.NonNegative(end, nameof(end));
        Hyperparameter.Steps(steps, nameof(steps));
        return step => start + (end - start) * Math.Min(step, steps) / steps;
    }

    /// <summary>Linear warm-up from 0 to <paramref name="peak"/> over <paramref name="warmupSteps"/>,
    /// then cosine decay to peak * <paramref name="alpha"/> over the remaining
    /// <paramref name="totalSteps"/> - warmupSteps.</summary>
    public static Schedule WarmupCosine(double peak, long warmupSteps, long totalSteps, double alpha = 0)
    {
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "warmupSteps must be at least 0.");
        if (totalSteps <= warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, $"totalSteps must be above warmupSteps ({warmupSteps}).");
        var decay = Cosine(peak, totalSteps - warmupSteps, alpha);
        return step => step < warmupSteps ? peak * (step + 1) / warmupSteps : decay(step - warmupSteps);
    }
}
