using System.Runtime.InteropServices;

namespace Functional.Runtime;

/// <summary>
/// Bounds how long libtorch's OpenMP threads (libgomp) spin waiting at the end of each parallel
/// region before they sleep. libgomp spins 300,000 times by default, which assumes the process
/// has the cores to itself: beside other busy processes a spinning thread holds a core while the
/// thread it waits for is not running, and on the project's 2-core machines a CNN training loop
/// fell from 32 to 6-9 steps per second and the MLP from 240 to 19 under two busy processes.
/// With 10,000 spins the same loops ran 13-15 and 96 there, and as fast as before on a quiet
/// machine (no spinning at all cost 30-45% there). libgomp reads <c>GOMP_SPINCOUNT</c> once, when
/// it loads, so this runs before libtorch loads (from the module initializer, at the first use
/// of Functional.Core) and sets it in the native environment when neither it nor
/// <c>OMP_WAIT_POLICY</c> is set: a value of the user's always wins.
/// </summary>
public static class OpenMpSpinning
{
    /// <summary>The spin count set when the user set none.</summary>
    public const int DefaultSpinCount = 10_000;

    /// <summary>Whether this process's <c>GOMP_SPINCOUNT</c> was set here (false when the user set
    /// it or <c>OMP_WAIT_POLICY</c>, off Linux, or when libtorch had loaded before Functional.Core
    /// was first used, too late for libgomp to see it).</summary>
    public static bool Applied { get; private set; }

    /// <summary>Sets <c>GOMP_SPINCOUNT</c> for libgomp unless the user has chosen; once, before libtorch loads.</summary>
    internal static void ConfigureBeforeLibgompLoads()
    {
        if (!OperatingSystem.IsLinux() || Applied) return;
        if (Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is not null || Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null) return;
        if (LibgompLoaded()) return;
        try
        {
            // .NET's Environment.SetEnvironmentVariable does not reach the native environment on Linux.
            Applied = setenv("GOMP_SPINCOUNT", DefaultSpinCount.ToString(System.Globalization.CultureInfo.InvariantCulture), 0) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // not glibc: nothing to tune
        }
    }

    /// <summary>Whether a libgomp is mapped into this process already.</summary>
    static bool LibgompLoaded()
    {
        try
        {
            return File.ReadLines("/proc/self/maps").Any(line => line.Contains("libgomp", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
