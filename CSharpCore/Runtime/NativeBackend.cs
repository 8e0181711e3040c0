using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Security.Cryptography;
using TorchSharp;

namespace Functional.Runtime;

/// <summary>
/// Gets TorchSharp's natives loaded before any of our code makes a native call.
/// <list type="bullet">
/// <item>Where no build step fixed TorchSharp's shim (a project referencing TorchSharp-cpu and
/// Functional.Core without the Functional-cpu bundle, or our projects by ProjectReference from
/// outside this repository), it asks for <c>GLIBCXX_3.4.32</c>, which Debian 12's libstdc++
/// lacks: a fixed copy is made once per user (atomically, in the local application data
/// folder) and TorchSharp is pointed at it.</item>
/// <item>TorchSharp loads its natives in <c>torch</c>'s static constructor, libtorch first and
/// then its shim, and in an F# script that order matters: each package's natives sit in a
/// folder of their own, so the shim finds libtorch only if it is loaded already. A first call
/// through a nested type (<c>new torch.Generator(seed)</c>, as <c>Model</c>'s constructor makes)
/// skips that constructor and fails to load the shim; running it first avoids that.</item>
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
        if (OperatingSystem.IsLinux()) UseFixedShimWhereNeeded();
        try
        {
            RuntimeHelpers.RunClassConstructor(typeof(torch).TypeHandle);
        }
        catch (TypeInitializationException)
        {
            // Natives that do not load fail again at the first torch call, with TorchSharp's own
            // message (which names what is missing); failing here would hide it behind ours.
        }
    }

    /// <summary>Where an application's build left TorchSharp's shim unfixed, loads a fixed copy for TorchSharp.</summary>
    static void UseFixedShimWhereNeeded()
    {
        try
        {
            var original = new[] { Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", Shim), Path.Combine(AppContext.BaseDirectory, Shim) }
                .FirstOrDefault(File.Exists);
            if (original is null) return;
            var bytes = File.ReadAllBytes(original);
            if (ElfVersionNeeds.Weaken(bytes, MissingVersion) == 0) return; // fixed by the build, or never needed
            var copy = FixedCopy(bytes);
            var loaded = new Lazy<IntPtr>(() => LoadBeside(Path.GetDirectoryName(original)!, copy));
            // Asked when the runtime's own search fails (the original does not load): also for
            // TorchSharp's NativeLibrary.TryLoad, which a DllImport resolver would not see.
            AssemblyLoadContext.Default.ResolvingUnmanagedDll += (assembly, name) =>
                name == "LibTorchSharp" && assembly == typeof(torch).Assembly ? loaded.Value : IntPtr.Zero;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException
            or OverflowException)
        {
            // No fix: TorchSharp loads what it finds and says what fails.
        }
    }

    /// <summary>The fixed shim, written once per original (named by its hash) by an atomic rename.</summary>
    static string FixedCopy(byte[] fixedBytes)
    {
        var root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        if (root.Length == 0) root = Path.GetTempPath();
        var folder = Path.Combine(root, "Functional", "natives", Convert.ToHexStringLower(SHA256.HashData(fixedBytes))[..16]);
        var path = Path.Combine(folder, Shim);
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $"{Shim}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temp, fixedBytes);
        File.Move(temp, path, overwrite: true);
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
