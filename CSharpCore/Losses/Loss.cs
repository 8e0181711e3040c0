using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Losses;

/// <summary>The built-in losses. Each averages over everything but the batch axis per example,
/// then (with <see cref="LossFunction.Invoke(Tensor, Tensor)"/>) over the batch.</summary>
public static class Loss
{
    /// <summary>Mean of (prediction - target)^2.</summary>
    public static LossFunction MeanSquaredError { get; } = new("mean_squared_error", (p, t) => (p - t).square(), SameShape("mean_squared_error"))
    {
        Description = new() { ["type"] = "mean_squared_error" },
    };

    /// <summary>Mean of |prediction - target|.</summary>
    public static LossFunction MeanAbsoluteError { get; } = new("mean_absolute_error", (p, t) => (p - t).abs(), SameShape("mean_absolute_error"))
    {
        Description = new() { ["type"] = "mean_absolute_error" },
    };

    /// <summary>Quadratic within <paramref name="delta"/> of the target, linear outside.</summary>
    public static LossFunction Huber(double delta = 1.0) => new("huber", (p, t) =>
    {
        var error = (p - t).abs();
        var quadratic = error.clamp_max(delta);
        return 0.5 * quadratic.square() + delta * (error - quadratic);
    }, SameShape("huber"))
    {
        Description = new() { ["type"] = "huber", ["delta"] = delta },
    };

    /// <summary>Binary cross-entropy; targets in [0, 1] of the predictions' shape. From logits is
    /// the numerically stable form.</summary>
    public static LossFunction BinaryCrossEntropy(bool fromLogits = false) => new("binary_cross_entropy", (p, t) =>
        fromLogits
            ? torch.nn.functional.binary_cross_entropy_with_logits(p, t.to_type(p.dtype), reduction: nn.Reduction.None)
            : -(t * p.clamp(1e-7, 1 - 1e-7).log() + (1 - t) * (1 - p).clamp(1e-7, 1 - 1e-7).log()),
        SameShape("binary_cross_entropy"))
    {
        Description = new() { ["type"] = "binary_cross_entropy", ["from_logits"] = fromLogits },
    };

    /// <summary>Cross-entropy with one-hot (or probability) targets of shape (batch, classes).</summary>
    public static LossFunction CategoricalCrossEntropy(bool fromLogits = false) => new("categorical_cross_entropy", (p, t) =>
        -(t * LogProbabilities(p, fromLogits)).sum(-1), SameShape("categorical_cross_entropy"))
    {
        Description = new() { ["type"] = "categorical_cross_entropy", ["from_logits"] = fromLogits },
    };

    /// <summary>Cross-entropy with integer class targets of shape (batch) for predictions of
    /// shape (batch, classes). Targets outside [0, classes) are an error unless they equal
    /// <paramref name="ignoreIndex"/> (PyTorch's ignore_index): such rows contribute 0 and are
    /// left out of the mean's denominator.</summary>
    public static LossFunction SparseCategoricalCrossEntropy(bool fromLogits = false, long? ignoreIndex = null) => new("sparse_categorical_cross_entropy",
        (p, t) =>
        {
            var targets = t.dtype == ScalarType.Int64 ? t : t.to_type(ScalarType.Int64);
            Tensor? kept = ignoreIndex is { } skip ? targets.ne(skip) : null;
            if (kept is not null) targets = targets.where(kept, 0);
            try
            {
                // A gather, not nll_loss: nll_loss silently ignores the label -100.
                var losses = -LogProbabilities(p, fromLogits).gather(1, targets.unsqueeze(1)).squeeze(1);
                return kept is null ? losses : losses * kept;
            }
            catch (System.Runtime.InteropServices.ExternalException e)
            {
                // Checked only on failure: two reductions per step would cost more than the loss.
                throw new ArgumentOutOfRangeException(nameof(t),
                    $"sparse_categorical_cross_entropy: targets must be class indices in [0, {p.shape[1]}){(ignoreIndex is { } i ? $" or the ignore index {i}" : "")}; got values from {t.min().item<long>()} to {t.max().item<long>()}. {e.Message.Split('\n')[0]}");
            }
        },
        (p, t) =>
        {
            if (p.dim() != 2 || t.dim() != 1)
                throw new ArgumentException(
                    $"sparse_categorical_cross_entropy: needs predictions (batch, classes) and integer targets (batch); got {LossFunction.Format(p)} and {LossFunction.Format(t)}.");
            if (t.is_floating_point() || t.is_complex() || t.dtype == ScalarType.Bool)
                throw new ArgumentException($"sparse_categorical_cross_entropy: targets are class indices and must be integers; got {t.dtype}.");
        },
        ignoreIndex is { } ignored ? t => t.ne(ignored) : null)
    {
        Description = new() { ["type"] = "sparse_categorical_cross_entropy", ["from_logits"] = fromLogits, ["ignore_index"] = ignoreIndex },
    };

    /// <summary>KL(targets || predictions) for probability distributions over the last axis.</summary>
    public static LossFunction KLDivergence { get; } = new("kl_divergence", (p, t) =>
    {
        var tc = t.clamp(1e-7, 1);
        return (t * (tc.log() - p.clamp(1e-7, 1).log())).sum(-1);
    }, SameShape("kl_divergence"))
    {
        Description = new() { ["type"] = "kl_divergence" },
    };

    static Tensor LogProbabilities(Tensor p, bool fromLogits) => fromLogits ? p.log_softmax(-1) : p.clamp(1e-7, 1).log();

    static Action<Tensor, Tensor> SameShape(string name) => (p, t) =>
    {
        if (!p.shape.SequenceEqual(t.shape))
            throw new ArgumentException($"{name}: predictions have shape {LossFunction.Format(p)} but targets have shape {LossFunction.Format(t)}.");
    };
}
