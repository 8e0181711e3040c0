using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Functional.Autodiff;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Distributed;

/// <summary>
/// The ranks of a job started by <c>mpirun</c>, and the collectives between them: all-reduce,
/// broadcast and barrier, over tensors and trees (Horovod's and <c>torch.distributed</c>'s
/// verbs). <see cref="World"/> is every rank of the job; a process started without mpirun is
/// a job of one rank, where every collective leaves its input as it is (the forms that return
/// a value return a copy), so the same script runs either way. OpenMPI is the engine (<c>libmpi.so.40</c>, Debian's openmpi-bin); it is loaded
/// only under mpirun.
/// </summary>
/// <remarks>Collectives are called by every rank in the same order with the same shapes and
/// dtypes, as MPI requires. The tree forms check this (one small extra collective) and throw on
/// every rank when the trees differ; the tensor forms trust the caller. Tensors live on the CPU.
/// A collective that waits longer than <see cref="Timeout"/> ends the job (see there).</remarks>
public sealed class Communicator
{
    static readonly Lazy<Communicator> world = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    readonly IntPtr handle;
    readonly CollectiveWatchdog? watchdog;

    Communicator(int rank, int size, int localRank, int localSize, IntPtr handle)
    {
        (Rank, Size, LocalRank, LocalSize, this.handle) = (rank, size, localRank, localSize, handle);
        Timeout = TimeoutFromEnvironment();
        if (size > 1) watchdog = new CollectiveWatchdog(this);
    }

    /// <summary>Every rank of this job (MPI_COMM_WORLD); one rank without mpirun. The first use
    /// initialises MPI and gives this process cores / (ranks on this machine) intra-op threads,
    /// unless OMP_NUM_THREADS says otherwise.</summary>
    public static Communicator World => world.Value;

    /// <summary>Whether this process was started by mpirun (or another PMIx launcher).</summary>
    public static bool LaunchedByMpirun =>
        Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null || Environment.GetEnvironmentVariable("PMIX_RANK") is not null;

    /// <summary>This process's rank, 0 to <see cref="Size"/> - 1.</summary>
    public int Rank { get; }

    /// <summary>The number of ranks.</summary>
    public int Size { get; }

    /// <summary>This process's rank among the ranks on this machine.</summary>
    public int LocalRank { get; }

    /// <summary>The number of ranks on this machine.</summary>
    public int LocalSize { get; }

    /// <summary>Whether this is rank 0, the one that prints, logs and saves.</summary>
    public bool IsRoot => Rank == 0;

    /// <summary>Elements per MPI call when a large buffer is reduced: buckets of 1M (4 MB of
    /// float32) keep OpenMPI on its fast algorithms for every size. Set it to the same value on
    /// every rank.</summary>
    public long BucketElements
    {
        get;
        set => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(BucketElements), value, "BucketElements must be at least 1.");
    } = 1 << 20;

    /// <summary>How long a collective may wait for the other ranks before the job is ended with
    /// MPI_Abort (exit code 70) and a message on standard error that names this rank and the
    /// collective: 10 minutes, or FUNCTIONAL_MPI_TIMEOUT seconds; <see cref="Timeout.InfiniteTimeSpan"/>
    /// waits for ever. A rank that dies is noticed by mpirun itself, which ends the job and names it.</summary>
    public TimeSpan Timeout
    {
        get;
        set => field = value > TimeSpan.Zero || value == System.Threading.Timeout.InfiniteTimeSpan ? value
            : throw new ArgumentOutOfRangeException(nameof(Timeout), value, "Timeout must be positive (or Timeout.InfiniteTimeSpan).");
    }

    /// <inheritdoc/>
    public override string ToString() => $"rank {Rank} of {Size}";

    /// <summary>Reduces <paramref name="tensor"/> over the ranks, in place: afterwards every rank
    /// holds the same values. Contiguous CPU tensors of float32, float64 or int64 (Mean: floating).</summary>
    /// <exception cref="ArgumentException">Not on the CPU, not contiguous, or a dtype MPI is not given here.</exception>
    public void AllReduceInPlace(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        RequireReducible(tensor, op, "AllReduceInPlace");
        if (Size == 1) return;
        Reduce(Address(tensor), tensor.numel(), tensor.dtype, op == ReduceOp.Mean ? ReduceOp.Sum : op, "all-reduce");
        if (op == ReduceOp.Mean) tensor.div_(Size);
    }

    /// <summary>The reduction of <paramref name="tensor"/> over the ranks, as a new tensor (the
    /// caller owns it); any CPU tensor (16-bit floats are reduced in float32).</summary>
    public Tensor AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var copy = Filled(Reducible(tensor), c => AllReduceInPlace(c, op));
        if (copy.dtype == tensor.dtype) return copy;
        using (copy) return copy.to_type(tensor.dtype);
    }

    /// <summary>The reduction of every leaf of <paramref name="tree"/> over the ranks, as a new
    /// tree (the caller owns it). The leaves travel packed in one buffer per dtype, in buckets of
    /// <see cref="BucketElements"/>: a tree of many small tensors costs about one message.</summary>
    /// <exception cref="InvalidOperationException">The ranks passed trees of different paths, shapes or dtypes (thrown on every rank).</exception>
    public TensorTree AllReduce(TensorTree tree, ReduceOp op = ReduceOp.Sum)
    {
        ArgumentNullException.ThrowIfNull(tree);
        foreach (var leaf in tree.Leaves) RequireCpu(leaf, "AllReduce");
        var copy = Filled(tree.Map(Reducible), c => AllReduceInPlace(c, op));
        var result = copy.Map((path, t) => t.dtype == tree[path].dtype ? t : t.to_type(tree[path].dtype));
        foreach (var (reduced, returned) in copy.Leaves.Zip(result.Leaves))
            if (!ReferenceEquals(reduced, returned)) reduced.Dispose();
        return result;
    }

    /// <summary>Reduces every leaf of <paramref name="tree"/> in place (contiguous CPU leaves of
    /// float32, float64 or int64); otherwise as <see cref="AllReduce(TensorTree, ReduceOp)"/>.</summary>
    public void AllReduceInPlace(TensorTree tree, ReduceOp op = ReduceOp.Sum)
    {
        ArgumentNullException.ThrowIfNull(tree);
        for (int i = 0; i < tree.Count; i++) RequireReducible(tree.Leaves[i], op, $"AllReduceInPlace (leaf '{tree.Paths[i]}')");
        RequireSameTree(tree, "AllReduce");
        if (Size == 1) return;
        using var fused = new FusedReduction(this);
        fused.Run([.. tree.Leaves], op);
    }

    /// <summary>Rank <paramref name="root"/>'s <paramref name="tree"/> on every rank, as a new tree
    /// (the caller owns it; the other ranks' trees give the shapes).</summary>
    public TensorTree Broadcast(TensorTree tree, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(tree);
        foreach (var leaf in tree.Leaves) RequireCpu(leaf, "Broadcast");
        return Filled(tree.Map(ContiguousCopy), c => BroadcastInPlace(c, root));
    }

    /// <summary>Overwrites every leaf of <paramref name="tree"/> with rank <paramref name="root"/>'s
    /// values (contiguous CPU leaves of any dtype), as Fit does with the parameters, model state
    /// and optimizer state when it starts.</summary>
    /// <exception cref="InvalidOperationException">The ranks passed trees of different paths, shapes or dtypes (thrown on every rank).</exception>
    public void BroadcastInPlace(TensorTree tree, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(tree);
        RequireRank(root);
        for (int i = 0; i < tree.Count; i++) RequireLocal(tree.Leaves[i], $"BroadcastInPlace (leaf '{tree.Paths[i]}')");
        RequireSameTree(tree, "Broadcast");
        if (Size == 1) return;
        foreach (var leaf in tree.Leaves) BroadcastBytes(Address(leaf), leaf.numel() * leaf.element_size(), root);
    }

    /// <summary>Rank <paramref name="root"/>'s values on every rank.</summary>
    public long[] Broadcast(long[] values, int root = 0)
    {
        ArgumentNullException.ThrowIfNull(values);
        RequireRank(root);
        return PinnedCopy(values, at => BroadcastBytes(at, values.Length * sizeof(long), root));
    }

    /// <summary>The reduction of <paramref name="values"/> over the ranks (a new array).</summary>
    public double[] AllReduce(double[] values, ReduceOp op = ReduceOp.Sum)
    {
        ArgumentNullException.ThrowIfNull(values);
        var copy = PinnedCopy(values, at => Reduce(at, values.Length, ScalarType.Float64, op == ReduceOp.Mean ? ReduceOp.Sum : op, "all-reduce"));
        if (op == ReduceOp.Mean)
            for (int i = 0; i < copy.Length; i++) copy[i] /= Size;
        return copy;
    }

    /// <summary>The reduction of <paramref name="values"/> over the ranks (a new array).</summary>
    public long[] AllReduce(long[] values, ReduceOp op = ReduceOp.Sum)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (op == ReduceOp.Mean) throw new ArgumentException("Mean needs floating values; reduce with Sum and divide.", nameof(op));
        return PinnedCopy(values, at => Reduce(at, values.Length, ScalarType.Int64, op, "all-reduce"));
    }

    /// <summary>This rank's share of <paramref name="items"/> (files, row groups, key ranges):
    /// every <see cref="Size"/>-th item starting at <see cref="Rank"/>, so the ranks' shares are
    /// disjoint and together hold every item. Give every rank the same list in the same order.</summary>
    public IReadOnlyList<TItem> Shard<TItem>(IEnumerable<TItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        return [.. items.Where((_, i) => i % Size == Rank)];
    }

    /// <summary>Waits until every rank has called Barrier.</summary>
    public void Barrier()
    {
        if (Size == 1) return;
        using (watchdog?.Watch("barrier", 0)) MpiLibrary.Check(MpiLibrary.MPI_Barrier(handle), "MPI_Barrier");
    }

    /// <summary>The sum of <paramref name="tensor"/> over the ranks, differentiable: each rank's
    /// input gradient is the sum of every rank's output gradient (what synchronised BatchNorm
    /// builds its statistics with). Every rank must take the gradient, in the same order.</summary>
    public Tensor SumAcrossRanks(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (Size == 1) return tensor;
        return Transforms.CustomVjp(x => AllReduce(x), (_, _, cotangent) => AllReduce(cotangent), "sum_across_ranks")(tensor);
    }

    /// <summary>Ends the whole job: writes <paramref name="message"/> to standard error, naming
    /// this rank, and calls MPI_Abort, which makes every rank and mpirun exit with
    /// <paramref name="exitCode"/>. Without mpirun, ends this process with that code.</summary>
    [DoesNotReturn]
    public void Abort(string message, int exitCode = 70)
    {
        Console.Error.WriteLine($"Functional: rank {Rank} of {Size} aborts the job: {message}");
        Console.Error.Flush();
        if (Size > 1 || handle != IntPtr.Zero) MpiLibrary.MPI_Abort(handle, exitCode);
        Environment.Exit(exitCode);
        throw new System.Diagnostics.UnreachableException();
    }

    /// <summary>Reduces <paramref name="count"/> elements at <paramref name="address"/> in place over
    /// the ranks, in buckets (each bucket one MPI call, watched as <paramref name="what"/>).</summary>
    internal void Reduce(IntPtr address, long count, ScalarType dtype, ReduceOp op, string what)
    {
        var (datatype, size) = dtype switch
        {
            ScalarType.Float32 => (MpiLibrary.Float, 4),
            ScalarType.Float64 => (MpiLibrary.Double, 8),
            ScalarType.Int64 => (MpiLibrary.Int64, 8),
            _ => throw new ArgumentException($"MPI reduces float32, float64 and int64 here, not {dtype}."),
        };
        var mpiOp = op switch { ReduceOp.Sum => MpiLibrary.Sum, ReduceOp.Max => MpiLibrary.Max, ReduceOp.Min => MpiLibrary.Min, _ => throw new ArgumentOutOfRangeException(nameof(op)) };
        long bucket = Math.Min(BucketElements, int.MaxValue);
        using (watchdog?.Watch(what, count))
            for (long start = 0; start < count; start += bucket)
            {
                var at = address + (nint)(start * size);
                MpiLibrary.Check(MpiLibrary.MPI_Allreduce(MpiLibrary.InPlace, at, (int)Math.Min(bucket, count - start), datatype, mpiOp, handle), "MPI_Allreduce");
            }
    }

    /// <summary>Starts summing <paramref name="count"/> float32 values at <paramref name="address"/>
    /// in place over the ranks (MPI_Iallreduce, at most int.MaxValue values); the request to
    /// wait for. Every rank starts the same reductions in the same order.</summary>
    internal IntPtr StartSum(IntPtr address, int count)
    {
        MpiLibrary.Check(MpiLibrary.MPI_Iallreduce(MpiLibrary.InPlace, address, count, MpiLibrary.Float, MpiLibrary.Sum, handle, out var request), "MPI_Iallreduce");
        return request;
    }

    /// <summary>Lets MPI move started reductions on (it progresses only inside its calls); whether all are done.</summary>
    internal bool Test(IntPtr[] requests, int count)
    {
        MpiLibrary.Check(MpiLibrary.MPI_Testall(count, requests, out int done, IntPtr.Zero), "MPI_Testall");
        return done != 0;
    }

    /// <summary>Waits for started reductions (watched).</summary>
    internal void WaitAll(IntPtr[] requests, int count)
    {
        using (watchdog?.Watch("overlapped all-reduce of gradient buckets", count))
            MpiLibrary.Check(MpiLibrary.MPI_Waitall(count, requests, IntPtr.Zero), "MPI_Waitall");
    }

    void BroadcastBytes(IntPtr address, long bytes, int root)
    {
        using (watchdog?.Watch("broadcast (bytes) from rank " + root, bytes))
            for (long start = 0; start < bytes; start += int.MaxValue)
                MpiLibrary.Check(MpiLibrary.MPI_Bcast(address + (nint)start, (int)Math.Min(int.MaxValue, bytes - start), MpiLibrary.Byte, root, handle), "MPI_Bcast");
    }

    /// <summary>Throws on every rank unless all ranks passed trees of the same paths, shapes and dtypes.</summary>
    void RequireSameTree(TensorTree tree, string operation)
    {
        if (Size == 1) return;
        long print = Fingerprint(tree);
        var extremes = AllReduce([print, ~print], ReduceOp.Max);
        if (extremes[0] != print || ~extremes[1] != print)
            throw new InvalidOperationException(
                $"{operation}: the ranks passed different trees (paths, shapes or dtypes), so nothing was exchanged; rank {Rank} passed {tree.Structure}.");
    }

    static long Fingerprint(TensorTree tree)
    {
        var hash = new System.IO.Hashing.XxHash64();
        foreach (var (path, leaf) in tree.Paths.Zip(tree.Leaves))
            hash.Append(System.Text.Encoding.UTF8.GetBytes($"{path}:{leaf.dtype}:{string.Join(",", leaf.shape)};"));
        return (long)hash.GetCurrentHashAsUInt64();
    }

    /// <summary>The address of a contiguous CPU tensor's first element: one call into TorchSharp's
    /// native library (its <c>bytes</c> span costs five), which matters for small all-reduces.</summary>
    internal static IntPtr Address(Tensor tensor) => THSTensor_data(tensor.Handle);

    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr tensor);

    /// <summary>A contiguous CPU copy MPI can reduce (16-bit floats and other dtypes in float32).</summary>
    static Tensor Reducible(Tensor tensor)
    {
        RequireCpu(tensor, "AllReduce");
        if (tensor.dtype is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Int64) return ContiguousCopy(tensor);
        using var converted = tensor.to_type(ScalarType.Float32);
        return ContiguousCopy(converted);
    }

    /// <summary><paramref name="owned"/> after <paramref name="fill"/> ran on it, for the caller to
    /// own; disposed when <paramref name="fill"/> throws.</summary>
    static T Filled<T>(T owned, Action<T> fill) where T : IDisposable
    {
        try
        {
            fill(owned);
            return owned;
        }
        catch
        {
            owned.Dispose();
            throw;
        }
    }

    /// <summary>A copy of <paramref name="values"/>, pinned while <paramref name="call"/> gets its
    /// address (not called in a job of one rank).</summary>
    T[] PinnedCopy<T>(T[] values, Action<IntPtr> call) where T : unmanaged
    {
        var copy = (T[])values.Clone();
        if (Size == 1) return copy;
        var pin = GCHandle.Alloc(copy, GCHandleType.Pinned);
        try
        {
            call(pin.AddrOfPinnedObject());
        }
        finally
        {
            pin.Free();
        }
        return copy;
    }

    void RequireRank(int root)
    {
        if (root < 0 || root >= Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"root must be a rank, 0 to {Size - 1}.");
    }

    static Tensor ContiguousCopy(Tensor tensor)
    {
        using var contiguous = tensor.contiguous();
        return contiguous.clone();
    }

    static void RequireCpu(Tensor tensor, string operation)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.device_type != DeviceType.CPU)
            throw new ArgumentException($"{operation}: the tensor is on {tensor.device}; collectives take CPU tensors.");
    }

    static void RequireLocal(Tensor tensor, string operation)
    {
        RequireCpu(tensor, operation);
        if (!tensor.is_contiguous())
            throw new ArgumentException($"{operation}: the tensor of shape ({string.Join(", ", tensor.shape)}) is not contiguous; pass tensor.contiguous().");
    }

    static void RequireReducible(Tensor tensor, ReduceOp op, string operation)
    {
        RequireLocal(tensor, operation);
        if (tensor.dtype is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Int64))
            throw new ArgumentException($"{operation}: reduces float32, float64 or int64 tensors in place, not {tensor.dtype}; AllReduce returns a reduced copy of any dtype.");
        if (op == ReduceOp.Mean && tensor.dtype == ScalarType.Int64)
            throw new ArgumentException($"{operation}: Mean needs a floating tensor, not int64; reduce with Sum and divide.");
    }

    static TimeSpan TimeoutFromEnvironment() =>
        double.TryParse(Environment.GetEnvironmentVariable("FUNCTIONAL_MPI_TIMEOUT"), System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.FromMinutes(10);

    static Communicator Create()
    {
        if (!LaunchedByMpirun) return new Communicator(0, 1, 0, 1, IntPtr.Zero);
        MpiLibrary.Load();
        MpiLibrary.Check(MpiLibrary.MPI_Initialized(out int initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            MpiLibrary.Check(MpiLibrary.MPI_Init_thread(IntPtr.Zero, IntPtr.Zero, MpiLibrary.ThreadMultiple, out int provided), "MPI_Init_thread");
            if (provided < MpiLibrary.ThreadMultiple)
                Console.Error.WriteLine($"Functional: this OpenMPI provides thread level {provided}, not MPI_THREAD_MULTIPLE; the collective watchdog may not be able to end a hung job.");
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Finalise(MpiLibrary.CommWorld);
        }
        var worldHandle = MpiLibrary.CommWorld;
        MpiLibrary.Check(MpiLibrary.MPI_Comm_rank(worldHandle, out int rank), "MPI_Comm_rank");
        MpiLibrary.Check(MpiLibrary.MPI_Comm_size(worldHandle, out int size), "MPI_Comm_size");
        int localSize = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), out var local) && local > 0 ? local : 1;
        int localRank = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_RANK"), out var mine) && mine >= 0 ? mine : 0;
        if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is null)
            torch.set_num_threads(Math.Max(1, Environment.ProcessorCount / localSize));
        return new Communicator(rank, size, localRank, localSize, worldHandle);
    }

    /// <summary>At exit: MPI_Finalize, which waits for every rank; after a failure (a non-zero
    /// exit code, as <c>dotnet fsi</c> sets for a script that threw) MPI_Abort instead, which ends
    /// the other ranks rather than leaving them waiting.</summary>
    static void Finalise(IntPtr world)
    {
        if (MpiLibrary.MPI_Finalized(out int finalized) != MpiLibrary.Success || finalized != 0) return;
        if (Environment.ExitCode != 0) MpiLibrary.MPI_Abort(world, Environment.ExitCode);
        else MpiLibrary.MPI_Finalize();
    }
}
