using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// The plain recurrent layer (Keras's SimpleRNN): <c>h = activation(x W + h U + b)</c> over
/// (batch, time, features), tanh by default. Parameters "kernel" (features, units),
/// "recurrent_kernel" (units, units) and "bias" (units).
/// </summary>
[LayerKind("simple_rnn")]
public sealed class SimpleRnn(long units, bool returnSequences = false, ActivationFunction? activation = null,
    Initializer? kernelInitializer = null, Initializer? recurrentInitializer = null, string? name = null)
    : Recurrent(units, 1, returnSequences, kernelInitializer, recurrentInitializer, name)
{
    /// <summary>Applied to each step's sum (tanh by default).</summary>
    public ActivationFunction Activation { get; } = activation ?? ActivationFunction.Tanh;

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "units", Units }, { "return_sequences", ReturnSequences }, { "activation", Activation } };

    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static SimpleRnn FromConfig(LayerConfig config, string? name) =>
        new(config.Long("units"), config.Bool("return_sequences"), config.Activation("activation"), name: name);

    private protected override Tensor? Initial(Tensor zeros) => null;

    private protected override (Tensor H, Tensor? Carry) Step(Tensor projected, Tensor h, Tensor? carry, TensorTree p) =>
        (Activation.Invoke(projected + h.matmul(p["recurrent_kernel"])), null);

    private protected override Func<string, string, string?, (string H, string? Carry)> OnnxStep(OnnxGraph graph, TensorTree p)
    {
        var recurrent = graph.Constant("recurrent_kernel", p["recurrent_kernel"]);
        return (xt, h, _) => (graph.Activation(Activation, graph.Node("Add", "step", [xt, graph.Node("MatMul", "recurrent", [h, recurrent])])), null);
    }
}
