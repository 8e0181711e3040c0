using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>An activation function as a layer: any shape in, the same shape out.</summary>
[LayerKind("activation")]
public sealed class Activation(ActivationFunction function, string? name = null) : Layer(name ?? function.Name), IOnnxExportable
{
    /// <summary>The function applied.</summary>
    public ActivationFunction Function { get; } = function;

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "function", Function } };

    /// <summary>The layer a configuration describes.</summary>
    public static Activation FromConfig(LayerConfig config, string? name) =>
        new(config.Activation("function"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => inputShape;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (Function.Invoke(input), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Activation(Function, input);
}
