using System.Runtime.InteropServices;

namespace Functional.Runtime;

/// <summary>
/// Tunes glibc's malloc for training: libtorch frees and re-allocates large buffers every
/// step, and by default glibc returns them to the system and takes them back, paying a page
/// fault per page each time. Keeping freed memory for reuse made training up to 3x faster on
/// the project's machines (see the README's benchmarks). Linux with glibc only; elsewhere, and
/// when the environment variable FUNCTIONAL_NO_MALLOPT is set, it does nothing.
/// </summary>
public static class NativeAllocator
{
    const int TrimThreshold = -1, MmapThreshold = -3;
    static int tuned;

    /// <summary>Whether the allocator was tuned in this process.</summary>
    public static bool IsTuned => tuned == 1;

    /// <summary>Tunes the allocator once per process (later calls do nothing); returns whether it is tuned.</summary>
    public static bool Tune()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("FUNCTIONAL_NO_MALLOPT") is not null) return false;
        if (Interlocked.CompareExchange(ref tuned, 1, 0) != 0) return true;
        try
        {
            // Keep up to 2 GB of freed memory; serve blocks up to 1 GB from the heap.
            bool ok = mallopt(TrimThreshold, 2_000_000_000) == 1 & mallopt(MmapThreshold, 1_000_000_000) == 1;
            if (!ok) tuned = 0;
            return ok;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            tuned = 0; // not glibc (e.g. musl)
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
