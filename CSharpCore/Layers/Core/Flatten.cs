using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>(batch, d1, ..., dn) to (batch, d1 * ... * dn).</summary>
[LayerKind("flatten")]
public sealed class Flatten(string? name = null) : Layer(name), IOnnxExportable
{
    /// <inheritdoc/>
    public override LayerConfig Config => new();

    /// <summary>The layer a configuration describes.</summary>
    public static Flatten FromConfig(LayerConfig config, string? name) =>
        new(name);

    /// <inheritdoc/>
    protected override InputDtypes Accepts => InputDtypes.Any;

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => [inputShape.Aggregate(1L, (a, b) => a * b)];

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (input.flatten(1), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Flatten", "flatten", [input], OnnxGraph.Int("axis", 1));
}
