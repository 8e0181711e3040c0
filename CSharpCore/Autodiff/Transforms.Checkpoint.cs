using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

public static partial class Transforms
{
    /// <summary>
    /// Rematerialisation (JAX's <c>checkpoint</c> / <c>remat</c>): the returned function computes
    /// the same values and gradients as <paramref name="f"/>, but stores only its inputs; the
    /// forward pass is run again during the backward pass. Trades compute for memory in deep
    /// models. Gradients flow to the tree argument only, so pass every tensor that needs a
    /// gradient (parameters included) in the tree rather than capturing it in a closure.
    /// </summary>
    public static Func<TensorTree, TensorTree> Checkpoint(Func<TensorTree, TensorTree> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        return x => CustomVjpFunction.Apply(new RecomputeRule(f), x);
    }

    /// <summary><see cref="Checkpoint(Func{TensorTree, TensorTree})"/> for a function of one tensor.</summary>
    public static Func<Tensor, Tensor> Checkpoint(Func<Tensor, Tensor> f)
    {
        var remat = Checkpoint(t => TensorTree.Leaf(f(t[""])));
        return x => remat(TensorTree.Leaf(x))[""];
    }

    sealed class RecomputeRule(Func<TensorTree, TensorTree> f) : VjpRule(nameof(Checkpoint))
    {
        public override (TensorTree Output, TensorTree Residuals) Forward(TensorTree x) => (f(x), x);

        public override TensorTree Backward(TensorTree savedInputs, TensorTree cotangent)
        {
            // libtorch runs backward with grad mode on exactly when the caller wants a
            // differentiable gradient (create_graph).
            bool createGraph = torch.is_grad_enabled();
            using var gradMode = torch.enable_grad();
            var fresh = Tracing.Differentiable(savedInputs, nameof(Checkpoint), out _);
            TensorTree output;
            using (Tracing.Enter()) output = f(fresh);
            var cotangents = output.Paths.Select(p => cotangent[p]).ToArray();
            var gradients = SafeAutograd.Gradients(output.Leaves, fresh.Leaves, cotangents, createGraph,
                retainGraph: createGraph, nameof(Checkpoint), ownsInputs: true, requireDependence: false);
            return savedInputs.WithLeaves(gradients);
        }
    }
}
