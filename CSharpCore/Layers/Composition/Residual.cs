using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary><c>x + inner(x)</c>: a residual connection around a layer whose output shape equals
/// its input shape. The inner layer's variables are this layer's.</summary>
[LayerKind("residual")]
public sealed class Residual(ILayer inner, string? name = null) : IDescribedLayer, ICompositeLayer
{
    /// <summary>The wrapped layer.</summary>
    public ILayer Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <inheritdoc/>
    public string Name { get; } = name ?? "residual";

    /// <inheritdoc/>
    public string Kind => "residual";

    /// <inheritdoc/>
    public LayerConfig Config => new() { { "inner", Inner } };

    /// <summary>The layer a configuration describes.</summary>
    public static Residual FromConfig(LayerConfig config, string? name) => new(config.Layer("inner"), name);

    /// <inheritdoc/>
    public IReadOnlyList<T> Walk<T>(ILayerVisitor<T> visitor, IReadOnlyList<T> inputs, IReadOnlyList<long[]> inputShapes, string path)
    {
        var (x, shape) = NetworkWalk.Single(this, inputs, inputShapes);
        var y = NetworkWalk.Visit(Inner, visitor, x, shape, path);
        return [visitor.Merge("add", 0, [x, y], [shape, shape], TreePath.Join(path, "add"))];
    }

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
