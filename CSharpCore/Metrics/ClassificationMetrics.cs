using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Metrics;

/// <summary>
/// Counts of true positives, false positives and false negatives for binary predictions
/// (prediction &gt; threshold against 0/1 targets): the state behind precision, recall and F1.
/// </summary>
public abstract class ConfusionMetric(double threshold) : Metric
{
    /// <inheritdoc/>
    public override bool? HigherIsBetter => true;

    /// <summary>Predictions above it count as positive.</summary>
    public double Threshold { get; } = threshold;

    /// <inheritdoc/>
    public override double[] Init() => [0, 0, 0];

    /// <inheritdoc/>
    protected override double[] Accumulate(Tensor predictions, Tensor targets)
    {
        RequireOnePerTarget(Name, predictions, targets);
        var predicted = predictions.reshape(-1).gt(Threshold);
        var actual = targets.reshape(-1).gt(0.5);
        double Count(Tensor t) => t.sum().item<long>();
        return [Count(predicted & actual), Count(predicted & actual.logical_not()), Count(predicted.logical_not() & actual)];
    }

    private protected static double Ratio(double a, double b) => b == 0 ? 0 : a / b;

    /// <summary>Throws unless each prediction has one 0/1 target (a multi-class output does not).</summary>
    internal static void RequireOnePerTarget(string metric, Tensor predictions, Tensor targets)
    {
        if (predictions.dim() == 0 || targets.dim() == 0 || predictions.shape[0] != targets.shape[0] || predictions.numel() != targets.numel())
            throw new ArgumentException(
                $"{metric}: compares each prediction with a 0/1 target, but got predictions ({string.Join(", ", predictions.shape)}) " +
                $"and targets ({string.Join(", ", targets.shape)}); for class scores use an accuracy metric.");
    }
}

/// <summary>True positives / predicted positives.</summary>
public sealed class Precision(double threshold = 0.5, string name = "precision") : ConfusionMetric(threshold)
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "precision", ["name"] = name, ["threshold"] = Threshold };

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override double Result(double[] s) => Ratio(s[0], s[0] + s[1]);
}

/// <summary>True positives / actual positives.</summary>
public sealed class Recall(double threshold = 0.5, string name = "recall") : ConfusionMetric(threshold)
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "recall", ["name"] = name, ["threshold"] = Threshold };

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override double Result(double[] s) => Ratio(s[0], s[0] + s[2]);
}

/// <summary>Harmonic mean of precision and recall: 2 TP / (2 TP + FP + FN).</summary>
public sealed class F1Score(double threshold = 0.5, string name = "f1") : ConfusionMetric(threshold)
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "f1", ["name"] = name, ["threshold"] = Threshold };

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override double Result(double[] s) => Ratio(2 * s[0], 2 * s[0] + s[1] + s[2]);
}

/// <summary>
/// Area under the ROC curve for scores in [0, 1] against 0/1 targets, from per-threshold counts
/// over <paramref name="thresholds"/> evenly spaced thresholds (so states merge exactly).
/// </summary>
public sealed class Auc(int thresholds = 200, string name = "auc") : Metric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "auc", ["name"] = name, ["thresholds"] = thresholds };

    /// <inheritdoc/>
    public override bool? HigherIsBetter => true;

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override double[] Init() => new double[2 * thresholds];

    /// <inheritdoc/>
    protected override double[] Accumulate(Tensor predictions, Tensor targets)
    {
        ConfusionMetric.RequireOnePerTarget(Name, predictions, targets);
        // Histogram of scores by bucket, separately for positives and negatives.
        var bucket = (predictions.flatten().clamp(0, 1) * (thresholds - 1)).round().to_type(ScalarType.Int64);
        var positive = targets.flatten().gt(0.5);
        var pos = torch.bincount(bucket.masked_select(positive), minlength: thresholds).to_type(ScalarType.Float64);
        var neg = torch.bincount(bucket.masked_select(positive.logical_not()), minlength: thresholds).to_type(ScalarType.Float64);
        return [.. pos.data<double>().ToArray(), .. neg.data<double>().ToArray()];
    }

    /// <inheritdoc/>
    public override double Result(double[] s)
    {
        double totalPos = s.Take(thresholds).Sum(), totalNeg = s.Skip(thresholds).Sum();
        if (totalPos == 0 || totalNeg == 0) return double.NaN;
        // Sweep thresholds from high to low: trapezoids under (FPR, TPR).
        double tp = 0, fp = 0, area = 0;
        for (int b = thresholds - 1; b >= 0; b--)
        {
            double tpNext = tp + s[b], fpNext = fp + s[thresholds + b];
            area += (fpNext - fp) / totalNeg * (tp + tpNext) / 2 / totalPos;
            (tp, fp) = (tpNext, fpNext);
        }
        return area;
    }
}
