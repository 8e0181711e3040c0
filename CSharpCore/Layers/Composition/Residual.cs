using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary><c>x + inner(x)</c>: a residual connection around a layer whose output shape equals
/// its input shape. The inner layer's variables are this layer's.</summary>
public sealed class Residual(ILayer inner, string? name = null) : ILayer
{
    /// <summary>The wrapped layer.</summary>
    public ILayer Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <inheritdoc/>
    public string Name { get; } = name ?? "residual";

    /// <inheritdoc/>
    public long[] OutputShape(long[] inputShape)
    {
        var output = Inner.OutputShape(inputShape);
        if (!output.SequenceEqual(inputShape))
            throw new ShapeException(
                $"Layer '{Name}' (residual): '{Inner.Name}' maps {ShapeException.FormatBatch(inputShape)} to {ShapeException.FormatBatch(output)}; a residual connection needs the same shape.");
        return output;
    }

    /// <inheritdoc/>
    public Variables Init(torch.Generator rng, long[] inputShape)
    {
        ShapeException.RequireValid(inputShape, $"Layer '{Name}' (residual)");
        OutputShape(inputShape);
        return Inner.Init(rng, inputShape);
    }

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        var (y, state) = Inner.Apply(variables, input, context);
        // The inner layer computes in its variables' dtype: the skip connection follows it.
        if (y.dtype != input.dtype && y.is_floating_point() && input.is_floating_point()) input = input.to_type(y.dtype);
        if (!y.shape.SequenceEqual(input.shape))
            throw new ShapeException(
                $"Layer '{Name}' (residual): '{Inner.Name}' returned {ShapeException.Format(y.shape)} for input {ShapeException.Format(input.shape)}.");
        return (input + y, state);
    }
}
