using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Metrics;

/// <summary>Mean of |prediction - target| over all elements.</summary>
public sealed class MeanAbsoluteError(string name = "mae") : MeanMetric
{
    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets) => (predictions - targets).abs();
}

/// <summary>Square root of the mean of (prediction - target)^2 over all elements.</summary>
public sealed class RootMeanSquaredError(string name = "rmse") : MeanMetric
{
    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override double Result(double[] state) => Math.Sqrt(base.Result(state));

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets) => (predictions - targets).square();
}
