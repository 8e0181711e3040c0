using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

public static partial class Transforms
{
    /// <summary>
    /// Runs <paramref name="f"/> at <paramref name="primals"/> and returns its output with the
    /// pullback: a function from an output cotangent (same structure as the output) to the
    /// input cotangent <c>J^T v</c> (same structure as the primals). The pullback may be called
    /// any number of times; the graph lives as long as the pullback is reachable.
    /// </summary>
    public static (TensorTree Output, Func<TensorTree, TensorTree> Pullback) Vjp(Func<TensorTree, TensorTree> f, TensorTree primals)
    {
        var (output, attached, pullback) = VjpCore(f, primals, nameof(Vjp));
        return (output, pullback);
    }

    /// <summary><see cref="Vjp(Func{TensorTree, TensorTree}, TensorTree)"/> for a function of one tensor to one tensor.</summary>
    public static (Tensor Output, Func<Tensor, Tensor> Pullback) Vjp(Func<Tensor, Tensor> f, Tensor primal)
    {
        var (output, pullback) = Vjp(t => TensorTree.Leaf(f(t[""])), TensorTree.Leaf(primal));
        return (output[""], v => pullback(TensorTree.Leaf(v))[""]);
    }

    static (TensorTree Output, TensorTree Attached, Func<TensorTree, TensorTree> Pullback) VjpCore(
        Func<TensorTree, TensorTree> f, TensorTree primals, string transform)
    {
        ArgumentNullException.ThrowIfNull(primals);
        using var gradMode = torch.enable_grad();
        var inputs = Tracing.Differentiable(primals, transform, out bool nested);
        TensorTree attached;
        using (Tracing.Enter()) attached = f(inputs) ?? throw new ArgumentException($"{transform}: the function returned null.");
        var output = nested ? attached : attached.Detach();

        TensorTree Pullback(TensorTree cotangent)
        {
            attached.RequireSamePaths(cotangent, "the cotangent");
            using var mode = torch.enable_grad();
            bool createGraph = nested || Tracing.NeedsGraph(cotangent.Leaves);
            var cotangents = attached.Paths.Select(p => cotangent[p]).ToArray();
            var gradients = SafeAutograd.Gradients(attached.Leaves, inputs.Leaves, cotangents, createGraph, retainGraph: true,
                transform, ownsInputs: true);
            return primals.WithLeaves(gradients);
        }
        return (output, attached, Pullback);
    }

    /// <summary>
    /// The Jacobian-vector product: <paramref name="f"/>'s output at <paramref name="primals"/>
    /// and its directional derivative <c>J u</c> along <paramref name="tangents"/> (same structure
    /// as the primals). Computed as the derivative of the (linear) pullback, so it works for
    /// every function whose gradient is itself differentiable, custom gradients included.
    /// </summary>
    public static (TensorTree Output, TensorTree Tangent) Jvp(Func<TensorTree, TensorTree> f, TensorTree primals, TensorTree tangents)
    {
        ArgumentNullException.ThrowIfNull(tangents);
        RequireSameShapes(primals, tangents, nameof(Jvp), "tangent");
        using var gradMode = torch.enable_grad();
        bool nested = Tracing.NeedsGraph(primals.Leaves.Concat(tangents.Leaves));
        var (output, attached, pullback) = VjpCore(f, primals, nameof(Jvp));
        // J^T w is linear in w; differentiating <J^T w, u> with respect to w gives J u.
        var dummy = attached.Map(t => torch.zeros_like(t).requires_grad_(true));
        var transposed = pullback(dummy);
        var cotangents = primals.Paths.Select(p => tangents[p]).ToArray();
        var jvp = SafeAutograd.Gradients(transposed.Leaves, dummy.Leaves, cotangents, nested, retainGraph: nested, nameof(Jvp),
            ownsInputs: true, requireDependence: false);
        if (!nested)
        {
            transposed.Dispose();
            dummy.Dispose();
        }
        return (output, attached.WithLeaves(jvp));
    }

    /// <summary><see cref="Jvp(Func{TensorTree, TensorTree}, TensorTree, TensorTree)"/> for a function of one tensor.</summary>
    public static (Tensor Output, Tensor Tangent) Jvp(Func<Tensor, Tensor> f, Tensor primal, Tensor tangent)
    {
        var (output, jvp) = Jvp(t => TensorTree.Leaf(f(t[""])), TensorTree.Leaf(primal), TensorTree.Leaf(tangent));
        return (output[""], jvp[""]);
    }

    /// <summary>
    /// The Hessian-vector product <c>H v</c> of a scalar function at <paramref name="primals"/>,
    /// without forming <c>H</c>: the gradient of <c>&lt;grad f(x), v&gt;</c>.
    /// </summary>
    public static TensorTree HessianVectorProduct(Func<TensorTree, Tensor> f, TensorTree primals, TensorTree vector)
    {
        RequireSameShapes(primals, vector, nameof(HessianVectorProduct), "vector");
        return Grad(x => Dot(Grad(f)(x), vector))(primals);
    }

    /// <summary>
    /// The Jacobian of <paramref name="f"/> at <paramref name="primals"/>: for each input leaf, a
    /// tensor of shape <c>output.shape ++ leaf.shape</c>. One reverse pass per output element.
    /// </summary>
    public static TensorTree Jacobian(Func<TensorTree, Tensor> f, TensorTree primals)
    {
        var (output, pullback) = Vjp(x => TensorTree.Leaf(f(x)), primals);
        var y = output[""];
        long n = y.numel();
        var rows = new List<TensorTree>((int)n);
        using var basis = torch.eye(n, dtype: y.dtype);
        for (long k = 0; k < n; k++)
            rows.Add(pullback(TensorTree.Leaf(basis[k].view(y.shape))));
        return primals.Map((path, leaf) =>
            torch.stack(rows.Select(r => r[path]).ToArray()).view([.. y.shape, .. leaf.shape]));
    }

    /// <summary>The value of <paramref name="x"/> with no gradient flowing back through it.</summary>
    public static Tensor StopGradient(Tensor x) => x.detach();

    /// <summary>Every leaf of <paramref name="x"/> with no gradient flowing back through it.</summary>
    public static TensorTree StopGradient(TensorTree x) => x.Detach();

    /// <summary>The inner product of two trees of the same structure: the sum over leaves of
    /// <c>(a * b).sum()</c>.</summary>
    public static Tensor Dot(TensorTree a, TensorTree b)
    {
        a.RequireSamePaths(b, nameof(b));
        if (a.Count == 0) return torch.zeros(1).sum();
        return a.Paths.Select(p => (a[p] * b[p]).sum()).Aggregate((s, t) => s + t);
    }

    static void RequireSameShapes(TensorTree primals, TensorTree other, string transform, string what)
    {
        ArgumentNullException.ThrowIfNull(primals);
        primals.RequireSamePaths(other, what);
        foreach (var (path, leaf) in primals)
            if (!leaf.shape.SequenceEqual(other[path].shape))
                throw new ArgumentException(
                    $"{transform}: the {what} for '{Tracing.Describe(path)}' has shape {Tracing.Shape(other[path])} but the input has shape {Tracing.Shape(leaf)}.");
    }
}
