using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

public static partial class Transforms
{
    /// <summary>
    /// A function with a gradient rule of your own (JAX's <c>custom_vjp</c>). <paramref name="forward"/>
    /// computes the output and the residuals that <paramref name="backward"/> needs;
    /// <paramref name="backward"/>(residuals, output cotangent) returns the input cotangent (a tree
    /// with the inputs' paths and shapes). Every transform uses the rule: Grad, Vjp, tapes, and
    /// Jvp / Hessian-vector products too when backward is written with differentiable tensor ops.
    /// Check a rule with <c>GradCheck</c>.
    /// </summary>
    /// <param name="forward">Runs with gradient recording off.</param>
    /// <param name="backward">Runs inside libtorch's reverse pass; an exception it throws, or a
    /// cotangent of the wrong shape, surfaces as a <see cref="GradientException"/> from the
    /// transform that asked for the gradient.</param>
    /// <param name="name">Names the rule in error messages.</param>
    public static Func<TensorTree, TensorTree> CustomVjp(
        Func<TensorTree, (TensorTree Output, TensorTree Residuals)> forward,
        Func<TensorTree, TensorTree, TensorTree> backward,
        string name = "custom_vjp")
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(backward);
        return x => CustomVjpFunction.Apply(new DelegateRule(name, forward, backward), x);
    }

    /// <summary>
    /// A one-tensor function with its own gradient rule: <paramref name="backward"/>(x, y, dy)
    /// returns dx, where y = <paramref name="f"/>(x) and dy is the output cotangent.
    /// </summary>
    public static Func<Tensor, Tensor> CustomVjp(Func<Tensor, Tensor> f, Func<Tensor, Tensor, Tensor, Tensor> backward, string name = "custom_vjp")
    {
        var rule = CustomVjp(
            x =>
            {
                var y = f(x[""]);
                return (TensorTree.Leaf(y), TensorTree.Of(("x", x[""]), ("y", y)));
            },
            (res, dy) => TensorTree.Leaf(backward(res["x"], res["y"], dy[""])),
            name);
        return x => rule(TensorTree.Leaf(x))[""];
    }

    sealed class DelegateRule(
        string name,
        Func<TensorTree, (TensorTree Output, TensorTree Residuals)> forward,
        Func<TensorTree, TensorTree, TensorTree> backward) : VjpRule(name)
    {
        public override (TensorTree Output, TensorTree Residuals) Forward(TensorTree x) => forward(x);
        public override TensorTree Backward(TensorTree residuals, TensorTree cotangent) => backward(residuals, cotangent);
    }
}
