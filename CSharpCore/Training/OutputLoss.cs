using Functional.Losses;
using Functional.Metrics;

namespace Functional.Training;

/// <summary>
/// What training does with one output of a model with several (Keras's <c>loss</c>,
/// <c>loss_weights</c> and <c>metrics</c> for that output): the training loss is the sum of each
/// output's loss times its weight. Logs name them "{output}_loss" and "{output}_{metric}".
/// </summary>
/// <param name="Loss">The output's loss.</param>
/// <param name="Weight">Its weight in the total loss (finite, at least 0).</param>
/// <param name="Metrics">Metrics of this output.</param>
public sealed record OutputLoss(LossFunction Loss, double Weight = 1, IReadOnlyList<Metric>? Metrics = null)
{
    /// <summary>The output's loss.</summary>
    public LossFunction Loss { get; init => field = value ?? throw new ArgumentNullException(nameof(Loss)); } =
        Loss ?? throw new ArgumentNullException(nameof(Loss));

    /// <summary>Its weight in the total loss.</summary>
    public double Weight { get; init => field = CheckWeight(value); } = CheckWeight(Weight);

    /// <summary>Metrics of this output.</summary>
    public IReadOnlyList<Metric> Metrics { get; init => field = CheckMetrics(value); } = CheckMetrics(Metrics);

    static double CheckWeight(double weight) => double.IsFinite(weight) && weight >= 0 ? weight
        : throw new ArgumentOutOfRangeException(nameof(Weight), weight, "An output's loss weight must be finite and at least 0.");

    static Metric[] CheckMetrics(IReadOnlyList<Metric>? metrics) => metrics is null ? [] : metrics.All(m => m is not null) ? [.. metrics]
        : throw new ArgumentNullException(nameof(Metrics), "Metrics must not hold null.");
}
