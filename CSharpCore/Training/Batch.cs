using Functional.Layers;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// One step's data: inputs and targets as trees (one tensor each for a model with one input and
/// one output; a leaf per named input or output otherwise) and optional per-example weights.
/// A batch belongs to whoever receives it from an <see cref="IBatchSource"/>: Fit and Evaluate
/// dispose each one after its step.
/// </summary>
/// <param name="Inputs">(batch, ...) inputs: a leaf tree, or a leaf per model input name.</param>
/// <param name="Targets">(batch, ...) targets: a leaf tree, or a leaf per model output name.</param>
/// <param name="SampleWeights">(batch) weights of the examples in the loss (Keras's
/// <c>sample_weight</c>), or null for equal weights.</param>
public sealed record Batch(TensorTree Inputs, TensorTree Targets, Tensor? SampleWeights = null) : IDisposable
{
    /// <summary>A batch of one input tensor and one target tensor.</summary>
    public Batch(Tensor inputs, Tensor targets, Tensor? sampleWeights = null)
        : this(TensorTree.Leaf(inputs), TensorTree.Leaf(targets), sampleWeights) { }

    /// <summary>A batch from an (inputs, targets) pair of tensors.</summary>
    public static implicit operator Batch((Tensor Inputs, Tensor Targets) pair) => new(pair.Inputs, pair.Targets);

    /// <summary>The batch's examples: the first dimension every tensor shares.</summary>
    /// <exception cref="ShapeException">Tensors of different first dimensions, or a scalar.</exception>
    public long Rows => LabeledData.RowsOf(Inputs, Targets, SampleWeights, "Batch");

    /// <summary>Disposes every tensor of the batch.</summary>
    public void Dispose()
    {
        Inputs.Dispose();
        Targets.Dispose();
        SampleWeights?.Dispose();
    }
}
