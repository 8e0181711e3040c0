using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Autodiff;

/// <summary>
/// A rule that replaces autograd's own reverse pass for one call: <see cref="Forward"/> runs
/// without recording and keeps the tensors its backward needs; <see cref="Backward"/> maps output
/// cotangents to input cotangents. Used by <c>Transforms.CustomVjp</c> and
/// <see cref="Transforms.Checkpoint(Func{TensorTree, TensorTree})"/>.
/// </summary>
abstract class VjpRule(string name)
{
    public string Name { get; } = name;
    public TreeStructure? Inputs { get; set; }
    public string[] OutputPaths { get; set; } = [];
    public string[] ResidualPaths { get; set; } = [];

    /// <summary>Runs the function (grad mode off); returns outputs and what backward needs.</summary>
    public abstract (TensorTree Output, TensorTree Residuals) Forward(TensorTree inputs);

    /// <summary>Input cotangents from residuals and output cotangents.</summary>
    public abstract TensorTree Backward(TensorTree residuals, TensorTree outputCotangent);
}

/// <summary>
/// Bridges a <see cref="VjpRule"/> into libtorch's graph as one node. Backward runs inside
/// libtorch's engine, so nothing may throw out of it: a failure, or a gradient of the wrong
/// shape, is recorded for <see cref="SafeAutograd"/> to rethrow and zeros are returned.
/// </summary>
sealed class CustomVjpFunction : torch.autograd.MultiTensorFunction<CustomVjpFunction>
{
    const string RuleKey = "rule";

    public override string Name => "Functional.CustomVjp";

    /// <summary>Applies the rule to <paramref name="inputs"/>, recording one graph node.</summary>
    public static TensorTree Apply(VjpRule rule, TensorTree inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        rule.Inputs = inputs.Structure;
        var outputs = apply([rule, .. inputs.Leaves]);
        return TensorTree.FromLeaves(rule.OutputPaths.Zip(outputs));
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var rule = (VjpRule)vars[0];
        var inputs = TensorTree.FromLeaves(rule.Inputs!.Paths.Zip(vars.Skip(1).Cast<Tensor>()));
        var (output, residuals) = rule.Forward(inputs);
        rule.OutputPaths = [.. output.Paths];
        rule.ResidualPaths = [.. residuals.Paths];
        ctx.save_data(RuleKey, rule);
        ctx.save_for_backward([.. residuals.Leaves]);
        return [.. output.Leaves];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> grad_outputs)
    {
        var rule = (VjpRule)ctx.get_data(RuleKey);
        var result = new List<Tensor> { null! };
        try
        {
            var residuals = TensorTree.FromLeaves(rule.ResidualPaths.Zip(ctx.get_saved_variables()));
            var cotangent = TensorTree.FromLeaves(rule.OutputPaths.Zip(grad_outputs));
            var gradient = rule.Backward(residuals, cotangent)
                ?? throw new GradientException($"Custom gradient '{rule.Name}': backward returned null.");
            var inputs = rule.Inputs!;
            for (int i = 0; i < inputs.Paths.Count; i++)
            {
                var (path, shape, dtype) = (inputs.Paths[i], inputs.Shapes[i], inputs.DTypes[i]);
                if (!gradient.TryGetLeaf(path, out var g))
                    throw new GradientException($"Custom gradient '{rule.Name}': backward returned no gradient for input '{Tracing.Describe(path)}'.");
                if (!g.shape.SequenceEqual(shape))
                    throw new GradientException(
                        $"Custom gradient '{rule.Name}': backward returned shape {Tracing.Shape(g)} for input '{Tracing.Describe(path)}', whose shape is [{string.Join(", ", shape)}].");
                result.Add(g.dtype == dtype ? g : g.to_type(dtype));
            }
        }
        catch (Exception e)
        {
            SafeAutograd.RecordCallbackFailure(e is GradientException ? e
                : new GradientException($"Custom gradient '{rule.Name}': backward threw {e.GetType().Name}: {e.Message}", e));
            var inputs = rule.Inputs!;
            result = [null!, .. inputs.Shapes.Select((shape, i) => torch.zeros(shape, dtype: inputs.DTypes[i]))];
        }
        return result;
    }
}
