using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Adds rows and columns of zeros around each image (Keras's ZeroPadding2D), channels
/// first: (channels, h, w) to (channels, top + h + bottom, left + w + right).</summary>
[LayerKind("zero_padding2d")]
public sealed class ZeroPadding2D : Layer, IOnnxExportable
{
    /// <summary>The same padding on every side.</summary>
    public ZeroPadding2D(long padding = 1, string? name = null) : this(padding, padding, padding, padding, name) { }

    /// <summary>Padding per side.</summary>
    public ZeroPadding2D(long top, long bottom, long left, long right, string? name = null) : base(name)
    {
        if (top < 0 || bottom < 0 || left < 0 || right < 0)
            throw new ArgumentOutOfRangeException(nameof(top), $"Padding must be non-negative; got top {top}, bottom {bottom}, left {left}, right {right}.");
        (Top, Bottom, Left, Right) = (top, bottom, left, right);
    }

    /// <summary>Rows added above.</summary>
    public long Top { get; }
    /// <summary>Rows added below.</summary>
    public long Bottom { get; }
    /// <summary>Columns added on the left.</summary>
    public long Left { get; }
    /// <summary>Columns added on the right.</summary>
    public long Right { get; }

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "padding", new[] { Top, Bottom, Left, Right } } };

    /// <summary>The layer a configuration describes.</summary>
    public static ZeroPadding2D FromConfig(LayerConfig config, string? name) =>
        config.Longs("padding") is [var top, var bottom, var left, var right] ? new(top, bottom, left, right, name)
        : throw config.Bad("padding", "needs four sizes: top, bottom, left, right");

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length == 3 ? [inputShape[0], Top + inputShape[1] + Bottom, Left + inputShape[2] + Right]
        : throw ShapeError("(batch, channels, height, width)", inputShape);

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context) =>
        (TorchSharp.torch.nn.functional.pad(input, [Left, Right, Top, Bottom]), variables.State);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Pad", "zero_padding", [input, graph.Constant("pads", 0, 0, Top, Left, 0, 0, Bottom, Right)]);
}
