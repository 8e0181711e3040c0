using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

/// <summary>
/// What a transform needs to know about the transforms around it. A transform called inside
/// another (grad of grad, a Hessian-vector product, a tape inside a tape) must build the graph
/// of its own gradient (create_graph) so the outer one can differentiate it; at top level it
/// must not, so nothing outlives the call.
/// </summary>
static class Tracing
{
    [ThreadStatic] static int depth;

    /// <summary>Marks the thread as inside a transform's function call until disposed.</summary>
    public static Scope Enter() => new();

    public readonly struct Scope : IDisposable
    {
        public Scope() => depth++;
        public void Dispose() => depth--;
    }

    /// <summary>True while a transform is running its function on this thread.</summary>
    public static bool InsideTransform => depth > 0;

    /// <summary>True when gradients computed now must themselves be differentiable.</summary>
    public static bool NeedsGraph(IEnumerable<Tensor> inputs) =>
        depth > 0 || GradientTape.RecordingCount > 0 || inputs.Any(t => t.requires_grad);

    /// <summary>
    /// Fresh tensors to differentiate with respect to: a new graph node per leaf, so a gradient
    /// with respect to it counts only the paths through this call (no perturbation confusion
    /// between nested transforms). A leaf already in an outer graph stays connected to it, and
    /// then the gradients must be differentiable too (<paramref name="needsGraph"/>).
    /// </summary>
    public static TensorTree Differentiable(TensorTree tree, string transform, out bool needsGraph)
    {
        foreach (var (path, t) in tree)
        {
            if (t.IsInvalid)
                throw new ObjectDisposedException($"{transform}: the input leaf '{Describe(path)}' was already disposed.");
            if (!t.is_floating_point() && !t.is_complex())
                throw new ArgumentException(
                    $"{transform}: the input leaf '{Describe(path)}' has dtype {t.dtype}; only floating-point tensors can be differentiated.");
        }
        needsGraph = NeedsGraph(tree.Leaves);
        return tree.Map(t => t.requires_grad ? t.view_as(t) : t.detach().requires_grad_(true));
    }

    public static string Describe(string path) => path.Length == 0 ? "<root>" : path;

    public static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}
