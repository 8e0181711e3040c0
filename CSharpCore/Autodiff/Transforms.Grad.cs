using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

/// <summary>
/// Function transforms in the style of JAX, built on libtorch's autograd: each takes a function
/// of a <see cref="TensorTree"/> (or of a tensor) and returns a new function. They compose:
/// <c>Grad(x =&gt; Grad(f)(x).Flatten().sum())</c> is a second derivative.
/// </summary>
/// <remarks>
/// Ownership: the tensors a transform returns belong to the caller (and to the caller's dispose
/// scope, if any); the transform disposes its own temporaries. At top level results are
/// detached; inside another transform they stay connected so the outer one can differentiate.
/// Leaves the output does not reach get zero gradients; an output that reaches no input at all
/// is a <see cref="GradientException"/>.
/// </remarks>
public static partial class Transforms
{
    /// <summary>The gradient of a scalar-valued function of a tree, as a tree of the same structure.</summary>
    public static Func<TensorTree, TensorTree> Grad(Func<TensorTree, Tensor> f) =>
        x =>
        {
            var (value, gradient) = ValueAndGradCore(f, x, nameof(Grad));
            value.Dispose();
            return gradient;
        };

    /// <summary>The gradient of a scalar-valued function of one tensor.</summary>
    public static Func<Tensor, Tensor> Grad(Func<Tensor, Tensor> f) =>
        x => Grad(t => f(t[""]))(TensorTree.Leaf(x))[""];

    /// <summary>The value and the gradient of a scalar-valued function of a tree.</summary>
    public static Func<TensorTree, (Tensor Value, TensorTree Gradient)> ValueAndGrad(Func<TensorTree, Tensor> f) =>
        x => ValueAndGradCore(f, x, nameof(ValueAndGrad));

    /// <summary>
    /// The value, an auxiliary result and the gradient of a function returning
    /// (scalar loss, auxiliary data), e.g. a loss and the model's new state or its predictions.
    /// Only the loss is differentiated; tensors in the auxiliary data are returned as computed.
    /// </summary>
    public static Func<TensorTree, (Tensor Value, TAux Aux, TensorTree Gradient)> ValueAndGrad<TAux>(
        Func<TensorTree, (Tensor Loss, TAux Aux)> f) =>
        x =>
        {
            TAux aux = default!;
            var (value, gradient) = ValueAndGradCore(t => { var (loss, a) = f(t); aux = a; return loss; }, x, nameof(ValueAndGrad));
            return (value, aux, gradient);
        };

    static (Tensor Value, TensorTree Gradient) ValueAndGradCore(Func<TensorTree, Tensor> f, TensorTree x, string transform)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var gradMode = torch.enable_grad();
        var inputs = Tracing.Differentiable(x, transform, out bool createGraph);
        Tensor y;
        using (Tracing.Enter()) y = f(inputs);
        RequireScalar(y, transform);
        var gradients = SafeAutograd.Gradients([y], inputs.Leaves, cotangents: null, createGraph, retainGraph: createGraph,
            transform, ownsInputs: true);
        var value = createGraph ? y : y.detach();
        if (!createGraph) inputs.Dispose();
        return (value, x.WithLeaves(gradients));
    }

    static void RequireScalar(Tensor? y, string transform)
    {
        if (y is null) throw new ArgumentException($"{transform}: the function returned null instead of a scalar tensor.");
        if (y.numel() != 1)
            throw new ArgumentException(
                $"{transform}: the function must return a scalar (one element) but returned shape {Tracing.Shape(y)}; " +
                "reduce it (e.g. .mean()) or use Vjp for non-scalar outputs.");
    }
}
