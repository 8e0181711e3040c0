using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary><c>x * scale + offset</c> element-wise, any shape (Keras's Rescaling): pixels in
/// [0, 255] to [0, 1] with scale 1/255, or to [-1, 1] with scale 1/127.5 and offset -1.</summary>
[LayerKind("rescaling")]
public sealed class Rescaling(double scale, double offset = 0, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>The factor.</summary>
    public double Scale { get; } = double.IsFinite(scale) ? scale : throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be finite.");

    /// <summary>Added after scaling.</summary>
    public double Offset { get; } = double.IsFinite(offset) ? offset : throw new ArgumentOutOfRangeException(nameof(offset), offset, "offset must be finite.");

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "scale", Scale }, { "offset", Offset } };

    /// <summary>The layer a configuration describes.</summary>
    public static Rescaling FromConfig(LayerConfig config, string? name) => new(config.Double("scale"), config.Double("offset"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) => inputShape;

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (Offset == 0 ? input * Scale : input * Scale + Offset, variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Add", "rescaling", [graph.Node("Mul", "rescaling", [input, graph.Scalar("scale", (float)Scale)]), graph.Scalar("offset", (float)Offset)]);
}
