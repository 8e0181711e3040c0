using System.Runtime.CompilerServices;
using TorchSharp;

namespace Functional.Runtime;

/// <summary>
/// Loads TorchSharp's natives before any of our code makes a native call. TorchSharp loads them
/// in <c>torch</c>'s static constructor, libtorch first and then its shim, and in an F# script
/// that order matters: each package's natives sit in a folder of their own, so the shim finds
/// libtorch only if it is loaded already. A first call through a nested type
/// (<c>new torch.Generator(seed)</c>, as <c>Model</c>'s constructor makes) skips that
/// constructor and fails to load the shim; running it first avoids that.
/// </summary>
static class NativeBackend
{
#pragma warning disable CA2255 // A module initializer in a library: the natives are needed before any of its code runs.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void LoadBeforeFirstUse()
    {
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
}
