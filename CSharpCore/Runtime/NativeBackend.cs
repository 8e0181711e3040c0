using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.IO.Hashing;
using Functional.Persistence;
using TorchSharp;

namespace Functional.Runtime;

/// <summary>
/// Gets TorchSharp's natives loaded before any of our code makes a native call.
/// <list type="bullet">
/// <item>Where no build step fixed TorchSharp's shim beside an application (a project
/// referencing TorchSharp-cpu and Functional.Core without the Functional-cpu bundle, or our
/// projects by ProjectReference from outside this repository), it asks for
/// <c>GLIBCXX_3.4.32</c>, which Debian 12's libstdc++ lacks: when TorchSharp's own load of it
/// fails, a fixed copy (made once per user, atomically, in the local application data folder,
/// and checked byte for byte when reused) is loaded for it. Applications only: F# scripts get
/// the fix from the Functional-cpu bundle.</item>
/// <item>TorchSharp loads its natives in <c>torch</c>'s static constructor, libtorch first and
/// then its shim, and in an F# script that order matters: each package's natives sit in a
/// folder of their own, so the shim finds libtorch only if it is loaded already. A first call
/// through a nested type (<c>new torch.Generator(seed)</c>, as <c>Model</c>'s constructor makes)
/// skips that constructor and fails to load the shim; running it first avoids that.</item>
/// <item>Before libtorch (and its OpenMP runtime) loads, <see cref="OpenMpSpinning"/> bounds the
/// OpenMP threads' spinning, which a shared machine needs.</item>
/// </list>
/// Either step failing leaves things as they were: TorchSharp then reports, in its own words,
/// what does not load.
/// </summary>
static class NativeBackend
{
    const string Shim = "libLibTorchSharp.so", MissingVersion = "GLIBCXX_3.4.32";

#pragma warning disable CA2255 // A module initializer in a library: the natives are needed before any of its code runs.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void LoadBeforeFirstUse()
    {
        try
        {
            if (OperatingSystem.IsLinux()) UseFixedShimWhereNeeded();
            OpenMpSpinning.ConfigureBeforeLibgompLoads();
            RuntimeHelpers.RunClassConstructor(typeof(torch).TypeHandle);
        }
        catch (Exception)
        {
            // Natives that do not load fail again at the first torch call, with TorchSharp's own
            // message (which names what is missing); failing here would hide it behind ours.
        }
    }

    /// <summary>Where an application's build left TorchSharp's shim unfixed, hands TorchSharp a
    /// fixed copy when its own load fails (nothing is read or written before that).</summary>
    static void UseFixedShimWhereNeeded()
    {
        var original = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", Shim) is var portable && File.Exists(portable)
            ? portable : Path.Combine(AppContext.BaseDirectory, Shim);
        var torchSharp = typeof(torch).Assembly;
        var loaded = new Lazy<IntPtr>(() => FixedAndLoaded(original));
        (AssemblyLoadContext.GetLoadContext(torchSharp) ?? AssemblyLoadContext.Default).ResolvingUnmanagedDll += (assembly, name) =>
            name == "LibTorchSharp" && assembly == torchSharp ? loaded.Value : IntPtr.Zero;
    }

    /// <summary>The fixed copy of <paramref name="original"/>, loaded; zero where there is none to make or it does not load.</summary>
    static IntPtr FixedAndLoaded(string original)
    {
        try
        {
            if (!File.Exists(original)) return IntPtr.Zero;
            var bytes = File.ReadAllBytes(original);
            if (ElfVersionNeeds.Weaken(bytes, MissingVersion) == 0) return IntPtr.Zero; // not what fails
            var copy = FixedCopy(bytes);
            return copy is null ? IntPtr.Zero : LoadBeside(Path.GetDirectoryName(original)!, copy);
        }
        catch (Exception)
        {
            return IntPtr.Zero; // TorchSharp's own search goes on, and says what fails
        }
    }

    /// <summary>The fixed shim in this user's local application data, named by its hash; reused
    /// only when its bytes are exactly these, else written again atomically. Null without such a folder.</summary>
    static string? FixedCopy(byte[] fixedBytes)
    {
        var root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        if (root.Length == 0) return null; // no per-user folder: a shared one (/tmp) could be planted
        var folder = Path.Combine(root, "Functional", "natives", Convert.ToHexStringLower(XxHash128.Hash(fixedBytes)));
        var path = Path.Combine(folder, Shim);
        if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(fixedBytes)) return path;
        Directory.CreateDirectory(folder);
        AtomicFile.Write(path, stream => stream.Write(fixedBytes));
        return path;
    }

    /// <summary>Loads the copy after the libtorch libraries beside the original, which the copy
    /// then finds by name (its own folder holds only itself).</summary>
    static IntPtr LoadBeside(string folder, string copy)
    {
        try
        {
            foreach (var dependency in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
            {
                var path = Path.Combine(folder, dependency);
                if (File.Exists(path)) NativeLibrary.Load(path);
            }
            return NativeLibrary.Load(copy);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            return IntPtr.Zero; // TorchSharp's own search, and its message
        }
    }
}
