using Functional.Trees;

namespace Functional.Layers;

/// <summary>
/// What a layer's <see cref="ILayer.Init"/> makes: the trainable parameters and the state
/// (non-trainable values the layer updates itself, such as BatchNorm's running statistics).
/// </summary>
/// <param name="Params">Trained by the optimizer.</param>
/// <param name="State">Returned anew by <see cref="ILayer.Apply"/>; never differentiated.</param>
public sealed record Variables(TensorTree Params, TensorTree State)
{
    /// <summary>No parameters and no state (activations, pooling, reshapes).</summary>
    public static Variables None { get; } = new(TensorTree.Empty, TensorTree.Empty);
}
