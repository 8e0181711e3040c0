using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Optimizers;

/// <summary>
/// Dynamic loss scaling for float16 training (Keras's <c>LossScaleOptimizer</c>, PyTorch's
/// <c>GradScaler</c>): the loss is multiplied by a scale before differentiation so that small
/// gradients survive float16, the gradients are divided by it again, and the optimizer
/// transformation <see cref="Dynamic"/> skips any step whose gradients are not finite and halves
/// the scale, and doubles it after a run of finite steps. The scale and the run length are
/// optimizer state: checkpointed and resumed with it.
/// </summary>
/// <remarks>
/// In a hand-written loop (as TensorFlow's <c>get_scaled_loss</c> / <c>get_unscaled_gradients</c>):
/// <code>
/// var scaled = LossScale.ScaleLoss(loss, optState);
/// var grads = LossScale.UnscaleGradients(tape.Gradient(scaled, parameters), optState);
/// var (updates, next) = optimizer.Update(grads, optState, parameters);   // skips non-finite steps
/// </code>
/// Fit and <c>Model.TrainStep</c> do this themselves for a model whose optimizer scales its loss
/// (a model under <see cref="Layers.PrecisionPolicy.MixedFloat16"/> gets one).
/// </remarks>
public static class LossScale
{
    /// <summary>The name of the loss-scale state's sub-tree ("loss_scale/scale", "loss_scale/good_steps").</summary>
    public const string StateName = "loss_scale";
    const string InnerName = "inner";

    /// <summary>
    /// Wraps <paramref name="inner"/> in dynamic loss scaling: the state is
    /// <c>{loss_scale: {scale, good_steps}, inner: ...}</c>. Each update checks that the
    /// (unscaled) gradients are finite: if they are, <paramref name="inner"/> updates as usual and
    /// after <paramref name="growthInterval"/> finite steps in a row the scale is multiplied by
    /// <paramref name="factor"/>; if not, the update is zero, the inner state is left as it was and
    /// the scale is divided by <paramref name="factor"/> (never below 1).
    /// </summary>
    public static GradientTransformation Dynamic(GradientTransformation inner, double initialScale = 32768, long growthInterval = 2000, double factor = 2)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!(initialScale >= 1) || double.IsInfinity(initialScale))
            throw new ArgumentOutOfRangeException(nameof(initialScale), initialScale, "The initial loss scale must be finite and at least 1.");
        if (growthInterval < 1) throw new ArgumentOutOfRangeException(nameof(growthInterval), growthInterval, "The growth interval must be at least 1 step.");
        if (!(factor > 1) || double.IsInfinity(factor)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "The factor must be finite and above 1.");
        TensorTree Init(TensorTree parameters) => TensorTree.Node(
            (StateName, TensorTree.Of(("scale", torch.tensor((float)initialScale)), ("good_steps", torch.tensor(0L)))),
            (InnerName, inner.Init(parameters)));
        // Adjusts the scale for this step; whether the step's gradients may be applied.
        bool Advance(TensorTree gradients, TensorTree state)
        {
            var (scale, good) = (state[$"{StateName}/scale"], state[$"{StateName}/good_steps"]);
            if (AllFinite(gradients))
            {
                if (good.add_(1).item<long>() >= growthInterval)
                {
                    // Grow only while the scale stays a finite float32.
                    if (float.IsFinite(scale.item<float>() * (float)factor)) scale.mul_(factor);
                    good.zero_();
                }
                return true;
            }
            scale.copy_((scale / factor).clamp_min(1));
            good.zero_();
            return false;
        }
        return new GradientTransformation(Init, (gradients, state, parameters) =>
        {
            if (Advance(gradients, state)) return inner.UpdateInPlace(gradients, state.Select(InnerName), parameters);
            foreach (var g in gradients.Leaves) g.zero_();
            return gradients;
        })
        {
            FusedStep = inner.FusedStep is { } fused ? (gradients, state, parameters) =>
            {
                if (Advance(gradients, state)) fused(gradients, state.Select(InnerName), parameters);
            }
            : null,
        };
    }

    /// <summary>The loss scale an optimizer state holds (its one "loss_scale" sub-tree, at any
    /// depth), or null when the optimizer does not scale its loss.</summary>
    /// <exception cref="ArgumentException">The state holds more than one loss scale.</exception>
    public static Tensor? Find(TensorTree optimizerState)
    {
        ArgumentNullException.ThrowIfNull(optimizerState);
        const string suffix = StateName + "/scale";
        Tensor? found = null;
        for (int i = 0; i < optimizerState.Count; i++)
        {
            var path = optimizerState.Paths[i];
            if (path != suffix && !path.EndsWith(TreePath.Separator + suffix, StringComparison.Ordinal)) continue;
            if (found is not null) throw new ArgumentException("The optimizer state holds more than one loss scale; scale the loss of the whole optimizer once.", nameof(optimizerState));
            found = optimizerState.Leaves[i];
        }
        return found;
    }

    /// <summary>The current scale (1 when the optimizer does not scale its loss).</summary>
    public static double Current(TensorTree optimizerState) => Find(optimizerState) is { } scale ? scale.item<float>() : 1;

    /// <summary><paramref name="loss"/> times the current scale (the loss itself when the
    /// optimizer does not scale it): differentiate this one.</summary>
    public static Tensor ScaleLoss(Tensor loss, TensorTree optimizerState)
    {
        ArgumentNullException.ThrowIfNull(loss);
        double scale = Current(optimizerState);
        return scale == 1 ? loss : loss * scale;
    }

    /// <summary>Gradients of a scaled loss divided by the scale (new tensors; the given ones are
    /// left as they are): pass these to the optimizer.</summary>
    public static TensorTree UnscaleGradients(TensorTree gradients, TensorTree optimizerState)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        double scale = Current(optimizerState);
        using var noGrad = torch.no_grad();
        return gradients.Map(g => g / scale);
    }

    /// <summary>Divides gradients the caller owns by the scale, in place.</summary>
    internal static void UnscaleInPlace(TensorTree gradients, double scale)
    {
        if (scale == 1) return;
        using var noGrad = torch.no_grad();
        foreach (var g in gradients.Leaves) g.div_(scale);
    }

    /// <summary>Whether every element of every leaf is finite: one reduction per leaf (a sum of
    /// finite values that overflows counts as not finite, which only halves the scale once more).</summary>
    static bool AllFinite(TensorTree gradients)
    {
        if (gradients.Count == 0) return true;
        using var scope = torch.NewDisposeScope();
        Tensor? total = null;
        foreach (var g in gradients.Leaves)
        {
            var s = g.sum(ScalarType.Float32);
            total = total is null ? s : total.add_(s);
        }
        return float.IsFinite(total!.item<float>());
    }
}
