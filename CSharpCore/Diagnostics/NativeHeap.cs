using System.Runtime.InteropServices;

namespace Functional.Diagnostics;

/// <summary>
/// Bytes the C heap has handed out and not taken back: libtorch's CPU tensors live there, and
/// the .NET GC does not see them. Read from glibc's <c>mallinfo2</c> (every arena, plus blocks
/// mapped on their own); null where that is not available (not glibc, or glibc before 2.33).
/// A reading walks the heap's free lists, so it costs microseconds, not nanoseconds.
/// </summary>
public static class NativeHeap
{
    static bool unavailable = !OperatingSystem.IsLinux();

    /// <summary>Bytes in use now, or null where glibc's <c>mallinfo2</c> is not available.</summary>
    public static long? InUseBytes()
    {
        if (unavailable) return null;
        try
        {
            var info = mallinfo2();
            return (long)(info.uordblks + info.hblkhd);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            unavailable = true;
            return null;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    static extern MallInfo2 mallinfo2();
}
