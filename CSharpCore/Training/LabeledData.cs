using Functional.Layers;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// Inputs with their targets and optional per-example weights, all with one row per example:
/// training data, validation data, a split. Trees, so models with several named inputs and
/// outputs take them as they take single tensors.
/// </summary>
/// <param name="Inputs">(examples, ...) inputs: a leaf tree, or a leaf per model input name.</param>
/// <param name="Targets">(examples, ...) targets: a leaf tree, or a leaf per model output name.</param>
/// <param name="SampleWeights">(examples) weights of the examples in the loss, or null.</param>
public sealed record LabeledData(TensorTree Inputs, TensorTree Targets, Tensor? SampleWeights = null)
{
    /// <summary>One input tensor with one target tensor.</summary>
    public LabeledData(Tensor inputs, Tensor targets, Tensor? sampleWeights = null)
        : this(TensorTree.Leaf(inputs), TensorTree.Leaf(targets), sampleWeights) { }

    /// <summary>The number of examples: the first dimension every tensor shares.</summary>
    /// <exception cref="ShapeException">Tensors of different first dimensions, or a scalar.</exception>
    public long Rows => RowsOf(Inputs, Targets, SampleWeights, "LabeledData");

    /// <summary>Rows <paramref name="start"/> .. start + length - 1 (views, not copies).</summary>
    public LabeledData Narrow(long start, long length) =>
        new(Inputs.Map(t => t.narrow(0, start, length)), Targets.Map(t => t.narrow(0, start, length)), SampleWeights?.narrow(0, start, length));

    /// <summary>The rows <paramref name="rows"/> lists (int64 indices), as new tensors.</summary>
    public LabeledData SelectRows(Tensor rows) =>
        new(Inputs.Map(t => t.index_select(0, rows)), Targets.Map(t => t.index_select(0, rows)), SampleWeights?.index_select(0, rows));

    /// <summary>The same tensors as a batch (which its consumer disposes).</summary>
    internal Batch AsBatch() => new(Inputs, Targets, SampleWeights);

    /// <summary>Every tensor of the data.</summary>
    public IEnumerable<Tensor> Tensors => Inputs.Leaves.Concat(Targets.Leaves).Concat(SampleWeights is null ? [] : [SampleWeights]);

    /// <summary>The shared first dimension of inputs, targets and weights; a
    /// <see cref="ShapeException"/> naming the tensors that disagree.</summary>
    internal static long RowsOf(TensorTree inputs, TensorTree targets, Tensor? weights, string what)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        if (inputs.Count == 0 || targets.Count == 0)
            throw new ArgumentException($"{what}: inputs and targets need at least one tensor each; got {inputs.Count} and {targets.Count}.");
        var named = inputs.Select(kv => (Name: Label("inputs", kv.Key), Tensor: kv.Value))
            .Concat(targets.Select(kv => (Name: Label("targets", kv.Key), Tensor: kv.Value)))
            .Concat(weights is null ? [] : [(Name: "sample weights", Tensor: weights)]).ToArray();
        if (named.FirstOrDefault(n => n.Tensor.dim() == 0) is { Tensor: not null } scalar)
            throw new ShapeException($"{what}: {scalar.Name} is a scalar; every tensor needs one row per example.");
        long rows = named[0].Tensor.shape[0];
        if (named.FirstOrDefault(n => n.Tensor.shape[0] != rows) is { Tensor: not null } other)
            throw new ShapeException(
                $"{what}: {named[0].Name} {ShapeException.Format(named[0].Tensor.shape)} and {other.Name} {ShapeException.Format(other.Tensor.shape)} need one row per example: the same number of examples (first dimension).");
        if (weights is not null && weights.dim() != 1)
            throw new ShapeException($"{what}: sample weights need shape (examples); got {ShapeException.Format(weights.shape)}.");
        return rows;
    }

    static string Label(string side, string path) => path.Length == 0 ? side : $"{side} '{path}'";
}
