using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Metrics;

/// <summary>Mean of |prediction - target| over all elements.</summary>
public sealed class MeanAbsoluteError(string name = "mae") : MeanMetric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "mean_absolute_error", ["name"] = name };

    /// <inheritdoc/>
    public override bool? HigherIsBetter => false;

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets) => (predictions - targets).abs();
}

/// <summary>Square root of the mean of (prediction - target)^2 over all elements.</summary>
public sealed class RootMeanSquaredError(string name = "rmse") : MeanMetric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "root_mean_squared_error", ["name"] = name };

    /// <inheritdoc/>
    public override bool? HigherIsBetter => false;

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override double Result(double[] state) => Math.Sqrt(base.Result(state));

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets) => (predictions - targets).square();
}

/// <summary>The coefficient of determination, 1 - (sum of squared errors) / (sum of squared
/// deviations of the targets from their mean), over all elements pooled: scikit-learn's r2_score
/// for one output. For several outputs it is the R^2 of the pooled values, not scikit-learn's
/// average over outputs (one metric per output gives that).</summary>
public sealed class R2Score(string name = "r2") : Metric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "r2", ["name"] = name };

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override bool? HigherIsBetter => true;

    /// <inheritdoc/>
    public override double[] Init() => [0, 0, 0, 0];

    /// <inheritdoc/>
    public override double Result(double[] state)
    {
        var (n, sum, squares, errors) = (state[0], state[1], state[2], state[3]);
        double deviations = squares - sum * sum / n;
        return n == 0 || deviations <= 0 ? double.NaN : 1 - errors / deviations;
    }

    /// <inheritdoc/>
    protected override double[] Accumulate(Tensor predictions, Tensor targets)
    {
        if (!predictions.shape.SequenceEqual(targets.shape))
            throw new ArgumentException($"{Name}: predictions have shape ({string.Join(", ", predictions.shape)}) but targets ({string.Join(", ", targets.shape)}).");
        var t = targets.to_type(ScalarType.Float64);
        var p = predictions.to_type(ScalarType.Float64);
        return [t.numel(), t.sum().item<double>(), t.square().sum().item<double>(), (t - p).square().sum().item<double>()];
    }
}
