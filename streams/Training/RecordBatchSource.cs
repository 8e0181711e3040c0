using Apache.Arrow;
using Functional.Streams.Columns;
using Functional.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams.Training;

/// <summary>
/// Feeds Fit and Evaluate from Arrow record batches: each batch's input column and target
/// column become tensors (one copy, see <see cref="ArrowTensor"/>), inputs reshaped to
/// (rows, <paramref name="inputShape"/>...) and passed through <paramref name="prepareInputs"/>
/// (e.g. bytes to floats in [0, 1]). One record batch is one training step.
/// </summary>
/// <param name="batchesForEpoch">The record batches of an epoch (read again each epoch; files are read lazily).</param>
/// <param name="inputColumn">The column of inputs (a fixed-size list per row).</param>
/// <param name="targetColumn">The column of targets.</param>
/// <param name="inputShape">Per-example input shape.</param>
/// <param name="count">Number of examples per epoch.</param>
/// <param name="prepareInputs">Applied to each batch's input tensor (default: to float32).</param>
public sealed class RecordBatchSource(
    Func<int, IEnumerable<RecordBatch>> batchesForEpoch, string inputColumn, string targetColumn, long[] inputShape, long count,
    Func<Tensor, Tensor>? prepareInputs = null) : IBatchSource
{
    /// <inheritdoc/>
    public long Count { get; } = count;

    /// <inheritdoc/>
    public IEnumerable<(Tensor Inputs, Tensor Targets)> Batches(int epoch)
    {
        foreach (var batch in batchesForEpoch(epoch))
        {
            (Tensor, Tensor) pair;
            using (batch)
            // The scope must close before yielding: an open scope would adopt what the consumer
            // makes while it holds the batch.
            using (var scope = torch.NewDisposeScope())
            {
                var raw = ArrowTensor.FromColumn(batch, inputColumn).reshape([batch.Length, .. inputShape]);
                var inputs = prepareInputs is null ? raw.to_type(ScalarType.Float32) : prepareInputs(raw);
                var targets = ArrowTensor.FromColumn(batch, targetColumn);
                scope.MoveToOuter(inputs, targets);
                pair = (inputs, targets);
            }
            yield return pair;
        }
    }
}
