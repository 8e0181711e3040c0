using System.Text.Json.Nodes;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Optimizers;

/// <summary>
/// Turns gradients into updates in place: may overwrite <paramref name="gradients"/> and must
/// leave the new state in <paramref name="state"/>'s tensors; returns the updates (which may be
/// the gradients' tensors). The caller gives both away.
/// </summary>
public delegate TensorTree InPlaceUpdate(TensorTree gradients, TensorTree state, TensorTree parameters);

/// <summary>
/// A fused training step: updates <paramref name="parameters"/> in place from
/// <paramref name="gradients"/> and leaves the same new state as <see cref="InPlaceUpdate"/>
/// followed by adding the updates would (up to rounding). May overwrite the gradients.
/// </summary>
public delegate void InPlaceStep(TensorTree gradients, TensorTree state, TensorTree parameters);

/// <summary>
/// Maps gradients to updates, carrying its own state (Optax's <c>GradientTransformation</c>).
/// <see cref="Init"/> makes the state for some parameters; <see cref="Update"/> takes gradients,
/// state and parameters and returns updates (to add to the parameters) and the new state,
/// changing nothing it was given. Optimizers are chains of small transformations: Adam is
/// <c>Chain(ScaleByAdam(), ScaleByLearningRate(lr))</c>.
/// </summary>
/// <remarks>
/// Each transformation is written once, as <see cref="UpdateInPlace"/>, the form a training
/// driver uses when it owns the state (no allocation per step); <see cref="Update"/> runs it on
/// copies. Updates are not differentiable (they are computed without recording).
/// </remarks>
/// <param name="Init">parameters -&gt; initial state.</param>
/// <param name="UpdateInPlace">The update, overwriting the gradients and state it is given.</param>
public sealed record GradientTransformation(Func<TensorTree, TensorTree> Init, InPlaceUpdate UpdateInPlace)
{
    /// <summary>
    /// A faster form of "update in place, then add the updates to the parameters" for a driver
    /// that owns the state (e.g. one fused kernel for all of Adam); null when there is none.
    /// Set by <see cref="Optimizer.Adam(double, double, double, double)"/>.
    /// </summary>
    public InPlaceStep? FusedStep { get; init; }

    /// <summary>What a built-in optimizer was made with (<c>{"type": "adam", "learning_rate": ...}</c>),
    /// so a saved model rebuilds it; null for compositions and schedules of your own.</summary>
    public JsonObject? Description { get; init; }

    /// <summary>
    /// One training step in place: the parameters take the updates and the state its new
    /// values; the gradients are overwritten. Uses <see cref="FusedStep"/> when there is one.
    /// </summary>
    public void StepInPlace(TensorTree gradients, TensorTree state, TensorTree parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var noGrad = torch.no_grad();
        if (FusedStep is { } fused)
        {
            fused(gradients, state, parameters);
            return;
        }
        var updates = UpdateInPlace(gradients, state, parameters);
        for (int i = 0; i < updates.Count; i++) parameters.Leaves[i].add_(updates.Leaves[i]);
    }

    /// <summary>The pure update: (updates, new state); <paramref name="gradients"/> and
    /// <paramref name="state"/> are left as they were.</summary>
    public (TensorTree Updates, TensorTree State) Update(TensorTree gradients, TensorTree state, TensorTree parameters)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        ArgumentNullException.ThrowIfNull(state);
        using var noGrad = torch.no_grad();
        var next = state.Clone();
        var updates = UpdateInPlace(gradients.Clone(), next, parameters);
        return (updates, next);
    }
}
