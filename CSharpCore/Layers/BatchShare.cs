namespace Functional.Layers;

/// <summary>The rows of a global batch one rank trains on: rows <paramref name="Offset"/> to
/// <paramref name="Offset"/> + <paramref name="Rows"/> - 1 of <paramref name="GlobalRows"/>.</summary>
/// <param name="Offset">The first row, in the global batch.</param>
/// <param name="Rows">The rows this rank has.</param>
/// <param name="GlobalRows">The rows of the global batch, over all ranks.</param>
public sealed record BatchShare(long Offset, long Rows, long GlobalRows)
{
    /// <summary>The share of rank <paramref name="rank"/> of <paramref name="ranks"/> in a global
    /// batch of <paramref name="globalRows"/>: contiguous, sizes differing by at most one.</summary>
    public static BatchShare Of(int rank, int ranks, long globalRows)
    {
        long start = globalRows * rank / ranks, end = globalRows * (rank + 1) / ranks;
        return new(start, end - start, globalRows);
    }
}
