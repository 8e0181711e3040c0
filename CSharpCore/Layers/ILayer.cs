using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// A layer is configuration only; its weights live in <see cref="Variables"/>, outside it.
/// Shapes are per example: the batch dimension is not part of them.
/// </summary>
public interface ILayer
{
    /// <summary>The layer's name: its parameters and state sit under this path in a model.</summary>
    string Name { get; }

    /// <summary>The per-example output shape for a per-example input shape, without running
    /// data. Throws <see cref="ShapeException"/> for an input the layer cannot take.</summary>
    long[] OutputShape(long[] inputShape);

    /// <summary>Fresh parameters and state for inputs of the given per-example shape.</summary>
    Variables Init(torch.Generator rng, long[] inputShape);

    /// <summary>The output for a batch, and the new state (the old state when nothing changed).</summary>
    (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context);
}
