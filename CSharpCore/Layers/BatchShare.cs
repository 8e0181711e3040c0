namespace Functional.Layers;

/// <summary>The rows of a global batch one rank trains on: rows <see cref="Offset"/> to
/// <see cref="Offset"/> + <see cref="Rows"/> - 1 of <see cref="GlobalRows"/>.</summary>
public sealed record BatchShare
{
    /// <summary>A share of rows <paramref name="offset"/> .. <paramref name="offset"/> + <paramref name="rows"/> - 1
    /// of a global batch of <paramref name="globalRows"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative count, or rows beyond the global batch.</exception>
    public BatchShare(long offset, long rows, long globalRows)
    {
        if (offset < 0 || rows < 0 || globalRows < 0 || offset + rows > globalRows)
            throw new ArgumentOutOfRangeException(nameof(rows), $"A batch share needs 0 <= offset and 0 <= rows with offset + rows <= global rows; got offset {offset}, rows {rows}, global rows {globalRows}.");
        (Offset, Rows, GlobalRows) = (offset, rows, globalRows);
    }

    /// <summary>The first row, in the global batch.</summary>
    public long Offset { get; }

    /// <summary>The rows this rank has.</summary>
    public long Rows { get; }

    /// <summary>The rows of the global batch, over all ranks.</summary>
    public long GlobalRows { get; }

    /// <summary>The share of rank <paramref name="rank"/> of <paramref name="ranks"/> in a global
    /// batch of <paramref name="globalRows"/>: contiguous, sizes differing by at most one.</summary>
    public static BatchShare Of(int rank, int ranks, long globalRows)
    {
        if (ranks < 1 || rank < 0 || rank >= ranks)
            throw new ArgumentOutOfRangeException(nameof(rank), $"A share needs 0 <= rank < ranks; got rank {rank} of {ranks}.");
        long start = globalRows * rank / ranks, end = globalRows * (rank + 1) / ranks;
        return new(start, end - start, globalRows);
    }
}
