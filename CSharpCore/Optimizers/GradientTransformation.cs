using Functional.Trees;

namespace Functional.Optimizers;

/// <summary>
/// Maps gradients to updates, carrying its own state (Optax's <c>GradientTransformation</c>).
/// <see cref="Init"/> makes the state for some parameters; <see cref="Update"/> takes gradients,
/// state and parameters and returns updates (to add to the parameters) and the new state.
/// Optimizers are chains of small transformations: Adam is
/// <c>Chain(ScaleByAdam(), ScaleByLearningRate(lr))</c>.
/// </summary>
/// <param name="Init">parameters -&gt; initial state.</param>
/// <param name="Update">(gradients, state, parameters) -&gt; (updates, new state).</param>
public sealed record GradientTransformation(
    Func<TensorTree, TensorTree> Init,
    Func<TensorTree, TensorTree, TensorTree, (TensorTree Updates, TensorTree State)> Update);
