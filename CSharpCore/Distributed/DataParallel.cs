namespace Functional.Distributed;

/// <summary>
/// Data-parallel training over the ranks of an MPI job (TensorFlow's
/// <c>MultiWorkerMirroredStrategy</c>, PyTorch's <c>DistributedDataParallel</c>, Horovod):
/// give it to <c>FitOptions.Distribution</c> and start the script with
/// <c>mpirun -np N</c>. Fit then broadcasts rank 0's parameters, model state and optimizer
/// state when it starts; each rank computes the gradients of its share of the global batch;
/// the gradients are averaged over the ranks (weighted by rows, in fused buckets) before every
/// update, so every rank holds the same parameters after every step; losses and metrics are
/// reduced over the ranks; and only rank 0 shows progress and runs the callbacks that write
/// (TensorBoard, checkpoints, CSV logs). Without mpirun (one rank) Fit trains as it always does.
/// </summary>
public sealed record DataParallel
{
    /// <summary>Data parallelism over <paramref name="communicator"/> (<see cref="Communicator.World"/> by default).</summary>
    public DataParallel(DataParallelMode mode = DataParallelMode.Exact, Communicator? communicator = null) =>
        (Mode, Communicator) = (mode, communicator ?? Communicator.World);

    /// <summary>N ranks reproduce one process (see <see cref="DataParallelMode.Exact"/>).</summary>
    public static DataParallel Exact() => new(DataParallelMode.Exact);

    /// <summary>Each rank reads its own shard (see <see cref="DataParallelMode.Scalable"/>).</summary>
    public static DataParallel Scalable() => new(DataParallelMode.Scalable);

    /// <summary>The ranks that train together.</summary>
    public Communicator Communicator { get; init; }

    /// <summary>How the data is divided.</summary>
    public DataParallelMode Mode { get; init; }

    /// <summary>Whether BatchNorm computes its batch statistics over every rank's rows (two
    /// small collectives per BatchNorm layer, forward and backward) instead of its own; null
    /// (the default) synchronises in <see cref="DataParallelMode.Exact"/> mode only.</summary>
    public bool? SynchronizeBatchNorm { get; init; }

    /// <summary>Whether to start the gradients' all-reduce during the backward pass, bucket by
    /// bucket as the reverse pass completes them (PyTorch DDP's overlap), instead of once after
    /// it. Off by default: on CPUs the transfer competes with the backward pass for the same
    /// cores, and `bench/run distributed` measures whether it pays (docs/distributed.md).
    /// float32 parameters only.</summary>
    public bool OverlapCommunication { get; init; }

    /// <summary>Values per bucket when <see cref="OverlapCommunication"/> is on: 262,144 (1 MB of float32).</summary>
    public long OverlapBucketElements
    {
        get;
        init => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(OverlapBucketElements), value, "OverlapBucketElements must be at least 1.");
    } = 262_144;

    /// <summary>Whether BatchNorm statistics are synchronised.</summary>
    public bool SynchronizesBatchNorm => SynchronizeBatchNorm ?? Mode == DataParallelMode.Exact;

    /// <summary>Whether there is more than one rank to train with.</summary>
    public bool IsDistributed => Communicator.Size > 1;

    /// <inheritdoc/>
    public override string ToString() =>
        $"data parallel, {Mode.ToString().ToLowerInvariant()}, {Communicator.Size} rank{(Communicator.Size == 1 ? "" : "s")}{(SynchronizesBatchNorm ? ", synchronised BatchNorm" : "")}{(OverlapCommunication ? ", all-reduce overlapped with the backward pass" : "")}";
}
