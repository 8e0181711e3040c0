namespace Functional.Distributed;

/// <summary>How data-parallel training divides the data (see <see cref="DataParallel"/>).</summary>
public enum DataParallelMode
{
    /// <summary>N ranks compute what one process computes: every rank reads the same batches and
    /// trains on its slice of each, Dropout masks are drawn for the global batch and sliced, and
    /// BatchNorm statistics are synchronised. For checking a setup and for reproducible runs.</summary>
    Exact,

    /// <summary>Each rank reads its own data (a stream sharded with <c>Shard</c>, its own files)
    /// and trains on its own batches; masks and BatchNorm statistics are local. The global batch
    /// is the sum of the ranks' batches. For real jobs.</summary>
    Scalable,
}
