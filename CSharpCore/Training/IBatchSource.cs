using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// Where Fit and Evaluate take batches from: in-memory tensors today (<see cref="TensorBatches"/>),
/// streams later. Each batch's tensors belong to the consumer, which disposes them.
/// </summary>
public interface IBatchSource
{
    /// <summary>Number of examples, or -1 when not known in advance (streams).</summary>
    long Count { get; }

    /// <summary>The batches of one epoch, (inputs, targets), in the order given by <paramref name="epoch"/>.</summary>
    IEnumerable<(Tensor Inputs, Tensor Targets)> Batches(int epoch);
}

/// <summary>Batches of in-memory tensors, shuffled per epoch from a seed (or in order).</summary>
public sealed class TensorBatches : IBatchSource
{
    readonly Tensor inputs, targets;

    /// <summary>Batches of <paramref name="batchSize"/> rows of <paramref name="inputs"/> and
    /// <paramref name="targets"/> (same first dimension).</summary>
    public TensorBatches(Tensor inputs, Tensor targets, int batchSize, bool shuffle = false, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        if (inputs.dim() == 0 || targets.dim() == 0 || inputs.shape[0] != targets.shape[0])
            throw new ArgumentException(
                $"Inputs and targets need the same number of examples (first dimension); got ({string.Join(", ", inputs.shape)}) and ({string.Join(", ", targets.shape)}).");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        (this.inputs, this.targets, BatchSize, Shuffle, Seed) = (inputs, targets, batchSize, shuffle, seed);
    }

    /// <summary>Rows per batch (the last batch may be smaller).</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch has its own order.</summary>
    public bool Shuffle { get; }

    /// <summary>With the epoch number, fixes the order.</summary>
    public ulong Seed { get; }

    /// <inheritdoc/>
    public long Count => inputs.shape[0];

    /// <inheritdoc/>
    public IEnumerable<(Tensor Inputs, Tensor Targets)> Batches(int epoch)
    {
        Tensor? order = null;
        if (Shuffle)
        {
            using var rng = TrainState.GeneratorFor(Seed, epoch);
            order = torch.randperm(Count, generator: rng);
        }
        try
        {
            for (long start = 0; start < Count; start += BatchSize)
            {
                long length = Math.Min(BatchSize, Count - start);
                if (order is null)
                    yield return (inputs.narrow(0, start, length), targets.narrow(0, start, length));
                else
                {
                    using var rows = order.narrow(0, start, length);
                    yield return (inputs.index_select(0, rows), targets.index_select(0, rows));
                }
            }
        }
        finally
        {
            order?.Dispose();
        }
    }
}
