using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Metrics;

/// <summary>
/// A metric as a pure accumulator: <see cref="Init"/> makes an empty state, <see cref="Update"/>
/// folds a batch into a state and returns a new one, <see cref="Merge"/> combines the states of
/// two shards, <see cref="Result"/> reads the value. States are small arrays of sums, so they
/// live on the CPU side and cost nothing to keep.
/// </summary>
public abstract class Metric
{
    /// <summary>What a built-in metric was made with (<c>{"type": ..., "name": ...}</c>), so a
    /// saved model rebuilds it; null for metrics of your own.</summary>
    public virtual System.Text.Json.Nodes.JsonObject? Description => null;

    /// <summary>The metric's name, used in logs and history ("accuracy", "val_accuracy").</summary>
    public abstract string Name { get; }

    /// <summary>Whether a higher value is better (accuracy) or worse (an error), for callbacks
    /// that monitor the metric; null when unknown (they then ask for the direction).</summary>
    public virtual bool? HigherIsBetter => null;

    /// <summary>The empty state.</summary>
    public abstract double[] Init();

    /// <summary>The state after one more batch of predictions and targets.</summary>
    public double[] Update(double[] state, Tensor predictions, Tensor targets)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var batch = Accumulate(predictions.detach(), targets.detach());
        var next = (double[])state.Clone();
        for (int i = 0; i < next.Length; i++) next[i] += batch[i];
        return next;
    }

    /// <summary>Two states combined, as if one had seen both's batches.</summary>
    public virtual double[] Merge(double[] a, double[] b) => [.. a.Zip(b, (x, y) => x + y)];

    /// <summary>The metric's value for a state.</summary>
    public abstract double Result(double[] state);

    /// <summary>This batch's sums, added to the state by <see cref="Update"/>.</summary>
    protected abstract double[] Accumulate(Tensor predictions, Tensor targets);

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>A metric that is a mean over examples of a per-example value.</summary>
public abstract class MeanMetric : Metric
{
    /// <inheritdoc/>
    public override double[] Init() => [0, 0];

    /// <inheritdoc/>
    public override double Result(double[] state) => state[1] == 0 ? double.NaN : state[0] / state[1];

    /// <inheritdoc/>
    protected override double[] Accumulate(Tensor predictions, Tensor targets)
    {
        var values = PerExample(predictions, targets);
        return [values.to_type(ScalarType.Float64).sum().item<double>(), values.numel()];
    }

    /// <summary>The per-example values averaged.</summary>
    protected abstract Tensor PerExample(Tensor predictions, Tensor targets);
}
