using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>(batch, d1, ..., dn) to (batch, d1 * ... * dn).</summary>
public sealed class Flatten(string? name = null) : Layer(name)
{
    /// <inheritdoc/>
    public override string Kind => "flatten";

    /// <inheritdoc/>
    protected override InputDtypes Accepts => InputDtypes.Any;

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => [inputShape.Aggregate(1L, (a, b) => a * b)];

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (input.flatten(1), variables.State);
}
