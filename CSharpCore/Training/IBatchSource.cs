using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Training;

/// <summary>
/// Where Fit and Evaluate take batches from: in-memory data (<see cref="TensorBatches"/>),
/// streams, your own. Each batch belongs to the consumer, which disposes it.
/// </summary>
public interface IBatchSource
{
    /// <summary>Number of examples, or -1 when not known in advance (streams).</summary>
    long Count { get; }

    /// <summary>The batches of one epoch, in the order given by <paramref name="epoch"/>.</summary>
    IEnumerable<Batch> Batches(int epoch);
}

/// <summary>Batches of in-memory data, shuffled per epoch from a seed (or in order).</summary>
public sealed class TensorBatches : IBatchSource
{
    readonly LabeledData data;

    /// <summary>Batches of <paramref name="batchSize"/> rows of <paramref name="inputs"/> and
    /// <paramref name="targets"/> (same first dimension).</summary>
    public TensorBatches(Tensor inputs, Tensor targets, int batchSize, bool shuffle = false, ulong seed = 0)
        : this(new LabeledData(inputs ?? throw new ArgumentNullException(nameof(inputs)), targets ?? throw new ArgumentNullException(nameof(targets))),
            batchSize, shuffle, seed)
    { }

    /// <summary>Batches of <paramref name="batchSize"/> rows of <paramref name="data"/>: every
    /// input, target and weight tensor is cut at the same rows.</summary>
    public TensorBatches(LabeledData data, int batchSize, bool shuffle = false, ulong seed = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        Count = data.Rows;
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batchSize must be at least 1.");
        (this.data, BatchSize, Shuffle, Seed) = (data, batchSize, shuffle, seed);
    }

    /// <summary>Rows per batch (the last batch may be smaller).</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch has its own order.</summary>
    public bool Shuffle { get; }

    /// <summary>With the epoch number, fixes the order.</summary>
    public ulong Seed { get; }

    /// <inheritdoc/>
    public long Count { get; }

    /// <inheritdoc/>
    public IEnumerable<Batch> Batches(int epoch)
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
                    yield return data.Narrow(start, length).AsBatch();
                else
                {
                    using var rows = order.narrow(0, start, length);
                    yield return data.SelectRows(rows).AsBatch();
                }
            }
        }
        finally
        {
            order?.Dispose();
        }
    }
}
