using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Base of the built-in layers: a name, and checks of the input's shape and dtype that run
/// before libtorch does, so a mistake names the layer instead of failing deep inside an op.
/// </summary>
public abstract class Layer : ILayer
{
    /// <summary>Creates a layer; <paramref name="name"/> defaults to <see cref="Kind"/>.</summary>
    protected Layer(string? name) => Name = name ?? Kind;

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The layer type's short name, e.g. "dense"; the default layer name.</summary>
    public abstract string Kind { get; }

    /// <inheritdoc/>
    public abstract long[] OutputShape(long[] inputShape);

    /// <inheritdoc/>
    public virtual Variables Init(torch.Generator rng, long[] inputShape)
    {
        OutputShape(inputShape);
        return Variables.None;
    }

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(context);
        if (input.dim() < 1)
            throw new ShapeException($"Layer '{Name}' ({Kind}) expects a batch of inputs (at least 1 dimension), but received a scalar.");
        CheckInput(variables, input);
        return Forward(variables, input, context);
    }

    /// <summary>Throws <see cref="ShapeException"/> when <paramref name="input"/> does not fit.</summary>
    protected virtual void CheckInput(Variables variables, Tensor input) => OutputShape(input.shape[1..]);

    /// <summary>The computation, on an input that passed <see cref="CheckInput"/>.</summary>
    protected abstract (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context);

    /// <summary>A <see cref="ShapeException"/> naming this layer.</summary>
    protected ShapeException ShapeError(string expected, IEnumerable<long> received) =>
        new($"Layer '{Name}' ({Kind}) expects input of shape {expected}, but received {ShapeException.FormatBatch(received)}.");

    /// <summary>Throws unless <paramref name="input"/> is floating point.</summary>
    protected void RequireFloatingPoint(Tensor input)
    {
        if (!input.is_floating_point())
            throw new ShapeException($"Layer '{Name}' ({Kind}) expects floating-point input, but received {input.dtype}.");
    }
}
