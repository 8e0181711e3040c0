namespace Functional.Optimizers;

/// <summary>Range checks for hyperparameters, run when an optimizer, transformation or schedule
/// is built: a NaN or out-of-range value is an <see cref="ArgumentOutOfRangeException"/> naming
/// the parameter, never a silently wrong training run.</summary>
static class Hyperparameter
{
    /// <summary>Finite and at least zero (learning rates, weight decay, epsilons).</summary>
    public static double NonNegative(double value, string name) =>
        double.IsFinite(value) && value >= 0 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number >= 0.");

    /// <summary>Finite and above zero (clipping bounds, factors).</summary>
    public static double Positive(double value, string name) =>
        double.IsFinite(value) && value > 0 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0.");

    /// <summary>In [0, 1) (decay rates, momentum, betas).</summary>
    public static double Decay(double value, string name) =>
        value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [0, 1).");

    /// <summary>In [0, 1] (final fractions of a schedule).</summary>
    public static double Fraction(double value, string name) =>
        value is >= 0 and <= 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [0, 1].");

    /// <summary>At least one (step counts).</summary>
    public static long Steps(long value, string name) =>
        value >= 1 ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1.");
}
