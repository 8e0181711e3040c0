namespace Functional.Cpu;

/// <summary>
/// The Functional-cpu bundle: libtorch's Linux x64 natives and TorchSharp's native shim, fixed to
/// load where libstdc++ is older than the one it was built with. Nothing needs to call this:
/// referencing the package is enough, in a project (its build targets fix the output's shim) and
/// in an F# script (F# Interactive finds this package's shim before TorchSharp's own). This
/// assembly is what puts the package among a script's references, first in that search.
/// </summary>
public static class CpuBundle
{
    /// <summary>The libtorch version whose natives this bundle brings.</summary>
    public const string LibTorchVersion = "2.10.0";

    /// <summary>The symbol version the shim asks for that older systems lack, marked weak in the
    /// bundled copy (it is needed for a symbol never called).</summary>
    public const string WeakenedSymbolVersion = "GLIBCXX_3.4.32";
}
