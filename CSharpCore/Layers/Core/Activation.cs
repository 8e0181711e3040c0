using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>An activation function as a layer: any shape in, the same shape out.</summary>
public sealed class Activation(ActivationFunction function, string? name = null) : Layer(name ?? function.Name)
{
    /// <summary>The function applied.</summary>
    public ActivationFunction Function { get; } = function;

    /// <inheritdoc/>
    public override string Kind => "activation";

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => inputShape;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (Function.Invoke(input), variables.State);
}
