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

    /// <summary>Handles made by <see cref="Forward"/> that libtorch has copied once apply returns.</summary>
    public List<Tensor> ForwardHandles { get; } = [];

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
        // libtorch now holds the outputs (wrapped in new handles) and the saved residuals.
        foreach (var t in rule.ForwardHandles)
            if (!IsAmong(t, inputs.Leaves) && !IsAmong(t, outputs)) t.Dispose();
        rule.ForwardHandles.Clear();
        return TensorTree.FromLeaves(rule.OutputPaths.Zip(outputs));
    }

    public override List<Tensor> forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var rule = (VjpRule)vars[0];
        var inputs = TensorTree.FromLeaves(rule.Inputs!.Paths.Zip(vars.Skip(1).Cast<Tensor>()));
        // Outputs and residuals outlive this call (until Apply hands them over); the rule's
        // temporaries are freed now.
        using var scope = torch.NewDisposeScope();
        var (output, residuals) = rule.Forward(inputs);
        var kept = output.Leaves.Concat(residuals.Leaves).Where(t => !IsAmong(t, inputs.Leaves))
            .Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().ToList();
        scope.Detach(kept);
        rule.ForwardHandles.AddRange(kept);
        rule.OutputPaths = [.. output.Paths];
        rule.ResidualPaths = [.. residuals.Paths];
        ctx.save_data(RuleKey, rule);
        ctx.save_for_backward([.. residuals.Leaves]);
        return [.. output.Leaves];
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, List<Tensor> grad_outputs)
    {
        var rule = (VjpRule)ctx.get_data(RuleKey);
        var inputs = rule.Inputs!;
        using var scope = torch.NewDisposeScope();
        List<Tensor> gradients;
        try
        {
            gradients = CheckedGradients(rule, ctx, grad_outputs);
        }
        catch (Exception e)
        {
            SafeAutograd.RecordCallbackFailure(e is GradientException ? e
                : new GradientException($"Custom gradient '{rule.Name}': backward threw {e.GetType().Name}: {e.Message}", e));
            gradients = [.. inputs.Shapes.Select((shape, i) => torch.zeros(shape, dtype: inputs.DTypes[i]))];
        }
        scope.Detach(gradients);
        SafeAutograd.ReleaseAfterPass(gradients);
        // TorchSharp made these handles for this call only.
        foreach (var g in grad_outputs)
            if (g is not null && !IsAmong(g, gradients)) g.Dispose();
        // The first argument of apply was the rule, which has no gradient.
        return [null!, .. gradients];
    }

    /// <summary>Identity, not equality: TorchSharp's tensor equality compares values.</summary>
    static bool IsAmong(Tensor t, IEnumerable<Tensor> tensors) => tensors.Any(u => ReferenceEquals(u, t));

    static List<Tensor> CheckedGradients(VjpRule rule, torch.autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        var residuals = TensorTree.FromLeaves(rule.ResidualPaths.Zip(ctx.get_saved_variables()));
        var cotangent = TensorTree.FromLeaves(rule.OutputPaths.Zip(gradOutputs));
        var gradient = rule.Backward(residuals, cotangent)
            ?? throw new GradientException($"Custom gradient '{rule.Name}': backward returned null.");
        var inputs = rule.Inputs!;
        var result = new List<Tensor>(inputs.Paths.Count);
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
        return result;
    }
}
