using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Repeats each pixel <see cref="Size"/> times along height and width (Keras's
/// UpSampling2D with nearest interpolation), channels first: (channels, h, w) to
/// (channels, h * size, w * size).</summary>
[LayerKind("up_sampling2d")]
public sealed class UpSampling2D(long size = 2, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>The factor along each spatial axis.</summary>
    public long Size { get; } = size > 0 ? size : throw new ArgumentOutOfRangeException(nameof(size), size, "size must be positive.");

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "size", Size } };

    /// <summary>The layer a configuration describes.</summary>
    public static UpSampling2D FromConfig(LayerConfig config, string? name) => new(config.Long("size"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 3 ? [inputShape[0], inputShape[1] * Size, inputShape[2] * Size]
        : throw ShapeError("(batch, channels, height, width)", inputShape);

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (input.repeat_interleave(Size, 2).repeat_interleave(Size, 3), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        using var scales = TorchSharp.torch.tensor(new float[] { 1, 1, Size, Size });
        // Integer factors with asymmetric coordinates and floor rounding pick exactly the repeated pixel.
        return graph.Node("Resize", "up_sampling", [input, "", graph.Constant("scales", scales)],
            OnnxGraph.Text("mode", "nearest"), OnnxGraph.Text("coordinate_transformation_mode", "asymmetric"), OnnxGraph.Text("nearest_mode", "floor"));
    }
}
