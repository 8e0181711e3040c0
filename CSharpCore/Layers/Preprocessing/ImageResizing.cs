using Functional.Export;
using Functional.Images;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Resizes images [channels, height, width] to <see cref="Height"/> x <see cref="Width"/>,
/// bilinearly without antialiasing (Keras's Resizing with its defaults), in training and inference.</summary>
[LayerKind("resizing")]
public sealed class Resizing(long height, long width, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>The output height.</summary>
    public long Height { get; } = height is > 0 and <= int.MaxValue ? height : throw new ArgumentOutOfRangeException(nameof(height), height, "height must be positive.");

    /// <summary>The output width.</summary>
    public long Width { get; } = width is > 0 and <= int.MaxValue ? width : throw new ArgumentOutOfRangeException(nameof(width), width, "width must be positive.");

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "height", Height }, { "width", Width } };

    /// <summary>The layer a configuration describes.</summary>
    public static Resizing FromConfig(LayerConfig config, string? name) => new(config.Long("height"), config.Long("width"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 3 ? [inputShape[0], Height, Width] : throw ShapeError("(batch, channels, height, width)", inputShape);

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (ImageOps.Resize(input, (int)Height, (int)Width), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        Onnx(graph, input, Height, Width, Kind);

    /// <summary>ONNX's Resize to a fixed height and width (the batch and channels kept), as PyTorch's bilinear interpolation without corners aligned.</summary>
    internal static string Onnx(OnnxGraph graph, string input, long height, long width, string hint)
    {
        var batchAndChannels = graph.Node("Slice", hint, [graph.Node("Shape", hint, [input]), graph.Constant("start", 0L), graph.Constant("end", 2L)]);
        var sizes = graph.Node("Concat", hint, [batchAndChannels, graph.Constant("size", height, width)], OnnxGraph.Int("axis", 0));
        return graph.Node("Resize", hint, [input, "", "", sizes],
            OnnxGraph.Text("mode", "linear"), OnnxGraph.Text("coordinate_transformation_mode", "half_pixel"));
    }
}

/// <summary>The central <see cref="Height"/> x <see cref="Width"/> window of images [channels,
/// height, width] (Keras's CenterCrop: an image smaller than the window is resized first,
/// keeping its aspect ratio), in training and inference.</summary>
[LayerKind("center_crop")]
public sealed class CenterCrop(long height, long width, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>The window's height.</summary>
    public long Height { get; } = height is > 0 and <= int.MaxValue ? height : throw new ArgumentOutOfRangeException(nameof(height), height, "height must be positive.");

    /// <summary>The window's width.</summary>
    public long Width { get; } = width is > 0 and <= int.MaxValue ? width : throw new ArgumentOutOfRangeException(nameof(width), width, "width must be positive.");

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "height", Height }, { "width", Width } };

    /// <summary>The layer a configuration describes.</summary>
    public static CenterCrop FromConfig(LayerConfig config, string? name) => new(config.Long("height"), config.Long("width"), name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 3 ? [inputShape[0], Height, Width] : throw ShapeError("(batch, channels, height, width)", inputShape);

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (ImageOps.CenterCrop(input, (int)Height, (int)Width), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        Onnx(graph, input, inputShape, Height, Width, Kind);

    /// <summary>The central crop in ONNX for an input of per-example shape <paramref name="inputShape"/>: a Resize first when it is smaller than the window, then a Slice.</summary>
    internal static string Onnx(OnnxGraph graph, string input, long[] inputShape, long height, long width, string hint)
    {
        long h = inputShape[1], w = inputShape[2];
        if (h < height || w < width)
        {
            double scale = Math.Max((double)height / h, (double)width / w);
            (h, w) = ((long)Math.Ceiling(h * scale), (long)Math.Ceiling(w * scale));
            input = Resizing.Onnx(graph, input, h, w, hint);
        }
        long top = (h - height) / 2, left = (w - width) / 2;
        return graph.Node("Slice", hint, [input, graph.Constant("starts", top, left), graph.Constant("ends", top + height, left + width), graph.Constant("axes", 2L, 3L)]);
    }
}
