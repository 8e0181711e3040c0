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
