using Functional.Trees;
using TorchSharp;

namespace Functional.Training;

/// <summary>
/// Everything training changes, as one value: parameters, model state (e.g. BatchNorm
/// statistics), optimizer state, the step count and the seed that, with the step, fixes each
/// step's randomness. Resuming from a saved TrainState continues exactly where it stopped.
/// </summary>
public sealed record TrainState(TensorTree Params, TensorTree ModelState, TensorTree OptState, long Step, ulong Seed)
{
    /// <summary>The random generator of step <paramref name="step"/>: a function of (seed, step) only.</summary>
    public static torch.Generator GeneratorFor(ulong seed, long step) =>
        new(unchecked(seed * 0x9E3779B97F4A7C15UL + (ulong)step * 0xBF58476D1CE4E5B9UL + 1));

    /// <summary>All tensors of the state.</summary>
    public IEnumerable<torch.Tensor> Tensors => Params.Leaves.Concat(ModelState.Leaves).Concat(OptState.Leaves);

    /// <summary>A copy with tensors of its own (for instance to donate to a training step).</summary>
    public TrainState Copy() => this with { Params = Params.Clone(), ModelState = ModelState.Clone(), OptState = OptState.Clone() };

    /// <summary>Disposes this state's tensors, except those <paramref name="successor"/> still uses
    /// (a stateless layer or transform hands its state on unchanged).</summary>
    public void DisposeExcept(TrainState successor)
    {
        var kept = new HashSet<torch.Tensor>(successor.Tensors, ReferenceEqualityComparer.Instance);
        foreach (var t in Tensors)
            if (!kept.Contains(t)) t.Dispose();
    }
}
