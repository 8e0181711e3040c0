using Functional.Distributed;
using Functional.Layers;

namespace Functional.Training;

/// <summary>
/// Each global batch of a source cut into the ranks' shares: this rank's contiguous slice, sizes
/// differing by at most one row. Every rank reads the same batches (in-memory data, or a stream
/// in exact mode), so a step's global batch is the one a single process would train on. A final
/// batch with fewer rows than there are ranks is dropped on every rank.
/// </summary>
sealed class RankShares(IBatchSource source, Communicator communicator) : IBatchSource
{
    /// <summary>Where the batch handed out last sits in its global batch.</summary>
    public BatchShare? Current { get; private set; }

    /// <inheritdoc/>
    public long Count => source.Count;

    /// <inheritdoc/>
    public IEnumerable<Batch> Batches(int epoch)
    {
        foreach (var global in source.Batches(epoch))
        {
            if (global is null)
            {
                yield return null!;   // Fit names the null batch
                continue;
            }
            long rows = global.Rows;
            if (rows < communicator.Size)
            {
                global.Dispose();
                continue;
            }
            var share = BatchShare.Of(communicator.Rank, communicator.Size, rows);
            Batch mine;
            try
            {
                mine = new Batch(
                    global.Inputs.Map(t => t.narrow(0, share.Offset, share.Rows)),
                    global.Targets.Map(t => t.narrow(0, share.Offset, share.Rows)),
                    global.SampleWeights?.narrow(0, share.Offset, share.Rows));
            }
            finally
            {
                global.Dispose();   // the slices keep the rows they view
            }
            Current = share;
            yield return mine;
        }
    }
}
