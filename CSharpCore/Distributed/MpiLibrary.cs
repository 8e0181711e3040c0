using System.Runtime.InteropServices;

namespace Functional.Distributed;

/// <summary>
/// The few MPI calls data parallelism needs, bound to OpenMPI's <c>libmpi.so.40</c> by hand
/// (NuGet's MPI.NET is Windows-only). OpenMPI's handles (communicators, datatypes, operations)
/// are the addresses of exported globals, read once with <see cref="NativeLibrary.GetExport"/>.
/// The library is opened RTLD_NOW | RTLD_GLOBAL first, because OpenMPI loads plugins that
/// resolve its symbols globally; the imports below then bind to that same copy.
/// </summary>
static class MpiLibrary
{
    const string Library = "libmpi.so.40";
    const int RtldNow = 2, RtldGlobal = 0x100;
    /// <summary>MPI_THREAD_MULTIPLE in OpenMPI: the watchdog and the autograd engine may call in from other threads.</summary>
    public const int ThreadMultiple = 3;
    public const int Success = 0;

    public static readonly IntPtr InPlace = 1;

    static IntPtr handle;

    public static IntPtr CommWorld { get; private set; }
    public static IntPtr Byte { get; private set; }
    public static IntPtr Float { get; private set; }
    public static IntPtr Double { get; private set; }
    public static IntPtr Int64 { get; private set; }
    public static IntPtr Sum { get; private set; }
    public static IntPtr Max { get; private set; }
    public static IntPtr Min { get; private set; }

    /// <summary>Opens the library and reads its handles; a clear exception when it is not installed.</summary>
    public static void Load()
    {
        if (handle != IntPtr.Zero) return;
        var opened = dlopen(Library, RtldNow | RtldGlobal);
        if (opened == IntPtr.Zero)
            throw new DllNotFoundException(
                $"This process was started by mpirun, but OpenMPI's {Library} could not be loaded ({Marshal.PtrToStringUTF8(dlerror()) ?? "no reason given"}). Install Debian's openmpi-bin (apt-get install openmpi-bin).");
        IntPtr Export(string name) => NativeLibrary.GetExport(opened, name);
        (CommWorld, Byte, Float, Double, Int64) = (Export("ompi_mpi_comm_world"), Export("ompi_mpi_byte"), Export("ompi_mpi_float"), Export("ompi_mpi_double"), Export("ompi_mpi_int64_t"));
        (Sum, Max, Min) = (Export("ompi_mpi_op_sum"), Export("ompi_mpi_op_max"), Export("ompi_mpi_op_min"));
        handle = opened;
    }

    /// <summary>Throws naming the call when MPI reports an error (OpenMPI's default handler aborts
    /// the job first; this covers handlers that return).</summary>
    public static void Check(int code, string call)
    {
        if (code != Success) throw new InvalidOperationException($"{call} failed with MPI error code {code}.");
    }

    [DllImport("libc", EntryPoint = "dlopen")]
    static extern IntPtr dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

    [DllImport("libc", EntryPoint = "dlerror")]
    static extern IntPtr dlerror();

    [DllImport(Library)] public static extern int MPI_Initialized(out int flag);
    [DllImport(Library)] public static extern int MPI_Finalized(out int flag);
    [DllImport(Library)] public static extern int MPI_Init_thread(IntPtr argc, IntPtr argv, int required, out int provided);
    [DllImport(Library)] public static extern int MPI_Finalize();
    [DllImport(Library)] public static extern int MPI_Comm_rank(IntPtr comm, out int rank);
    [DllImport(Library)] public static extern int MPI_Comm_size(IntPtr comm, out int size);
    [DllImport(Library)] public static extern int MPI_Allreduce(IntPtr send, IntPtr receive, int count, IntPtr datatype, IntPtr op, IntPtr comm);
    [DllImport(Library)] public static extern int MPI_Iallreduce(IntPtr send, IntPtr receive, int count, IntPtr datatype, IntPtr op, IntPtr comm, out IntPtr request);
    [DllImport(Library)] public static extern int MPI_Testall(int count, IntPtr[] requests, out int flag, IntPtr statuses);
    [DllImport(Library)] public static extern int MPI_Waitall(int count, IntPtr[] requests, IntPtr statuses);
    [DllImport(Library)] public static extern int MPI_Bcast(IntPtr buffer, int count, IntPtr datatype, int root, IntPtr comm);
    [DllImport(Library)] public static extern int MPI_Barrier(IntPtr comm);
    [DllImport(Library)] public static extern int MPI_Abort(IntPtr comm, int errorCode);
}
