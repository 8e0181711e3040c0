using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Metrics;

/// <summary>Share of examples whose highest-scoring class is the integer target (targets (batch)).</summary>
public sealed class SparseCategoricalAccuracy(string name = "accuracy") : MeanMetric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "sparse_categorical_accuracy", ["name"] = name };

    /// <inheritdoc/>
    public override bool? HigherIsBetter => true;

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets) => predictions.argmax(-1).eq(targets);
}

/// <summary>Share of examples whose highest-scoring class is the target's (one-hot targets).</summary>
public sealed class CategoricalAccuracy(string name = "accuracy") : MeanMetric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "categorical_accuracy", ["name"] = name };

    /// <inheritdoc/>
    public override bool? HigherIsBetter => true;

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets) => predictions.argmax(-1).eq(targets.argmax(-1));
}

/// <summary>Share of elements where (probability &gt; threshold) equals the 0/1 target. With
/// <paramref name="fromLogits"/> the predictions are logits (the threshold still applies to the
/// probability: logits are compared with log(threshold / (1 - threshold))).</summary>
public sealed class BinaryAccuracy(double threshold = 0.5, string name = "accuracy", bool fromLogits = false) : MeanMetric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "binary_accuracy", ["name"] = name, ["threshold"] = threshold, ["from_logits"] = fromLogits };

    readonly double cut = threshold is > 0 and < 1
        ? fromLogits ? Math.Log(threshold / (1 - threshold)) : threshold
        : throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "threshold must be in (0, 1).");

    /// <inheritdoc/>
    public override bool? HigherIsBetter => true;

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets) => predictions.gt(cut).eq(targets.gt(0.5));
}

/// <summary>Share of examples whose integer target is among the <paramref name="k"/> highest-scoring classes.</summary>
public sealed class TopKAccuracy(int k = 5, string? name = null) : MeanMetric
{
    /// <inheritdoc/>
    public override System.Text.Json.Nodes.JsonObject Description => new() { ["type"] = "top_k_accuracy", ["name"] = Name, ["k"] = k };

    /// <inheritdoc/>
    public override bool? HigherIsBetter => true;

    /// <inheritdoc/>
    public override string Name => name ?? $"top_{k}_accuracy";

    /// <inheritdoc/>
    protected override Tensor PerExample(Tensor predictions, Tensor targets)
    {
        var top = predictions.topk(Math.Min(k, (int)predictions.shape[^1]), -1).indexes;
        return top.eq(targets.unsqueeze(-1)).any(-1);
    }
}
