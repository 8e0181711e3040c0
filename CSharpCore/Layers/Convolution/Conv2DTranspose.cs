using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Transposed 2-D convolution (a learned upsampling, Keras's Conv2DTranspose), channels first:
/// (channels, height, width) to (filters, height', width') with height' = height * stride for
/// Same padding and (height - 1) * stride + max(kernel, stride) for Valid, as in Keras.
/// Parameters "kernel" (channels, filters, k, k) and "bias" (filters).
/// </summary>
[LayerKind("conv2d_transpose")]
public sealed class Conv2DTranspose(
    long filters, long kernelSize, long stride = 1, Padding padding = Padding.Valid,
    ActivationFunction? activation = null, bool useBias = true, Initializer? kernelInitializer = null, string? name = null)
    : Layer(name), IOnnxExportable
{
    /// <summary>Output channels.</summary>
    public long Filters { get; } = filters > 0 ? filters : throw new ArgumentOutOfRangeException(nameof(filters), filters, "A convolution needs at least one filter.");
    /// <summary>Window size (square).</summary>
    public long KernelSize { get; } = SpatialShape.Validate([kernelSize], 1, "kernel", padding)[0];
    /// <summary>Upsampling factor.</summary>
    public long Stride { get; } = SpatialShape.Validate([stride], 1, "stride", Padding.Valid)[0];
    /// <summary>Border handling (Same: the output is the input times the stride).</summary>
    public Padding Padding { get; } = padding;
    /// <summary>Applied to the output.</summary>
    public ActivationFunction Activation { get; } = activation ?? ActivationFunction.Linear;
    /// <summary>Whether there is a bias.</summary>
    public bool UseBias { get; } = useBias;

    long Pad => SpatialShape.PaddingFor(Padding, KernelSize);

    // Rows added at the end so the output has Keras's size: Same gives size * stride, Valid
    // (size - 1) * stride + max(kernel, stride).
    long OutputPadding => Padding == Padding.Same ? Stride - 1 : Math.Max(Stride - KernelSize, 0);

    long Output(long size) => (size - 1) * Stride - 2 * Pad + KernelSize + OutputPadding;

    /// <inheritdoc/>
    public override LayerConfig Config => new()
    {
        { "filters", Filters }, { "kernel_size", KernelSize }, { "stride", Stride },
        { "padding", Padding }, { "activation", Activation }, { "use_bias", UseBias },
    };

    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static Conv2DTranspose FromConfig(LayerConfig config, string? name) =>
        new(config.Long("filters"), config.Long("kernel_size"), config.Long("stride"), config.Enum<Padding>("padding"),
            config.Activation("activation"), config.Bool("use_bias"), name: name);

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape)
    {
        if (inputShape.Length != 3) throw ShapeError("(batch, channels, height, width)", inputShape);
        return [Filters, Output(inputShape[1]), Output(inputShape[2])];
    }

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        OutputShape(inputShape);
        long channels = inputShape[0], window = KernelSize * KernelSize;
        var kernel = (kernelInitializer ?? Initializers.GlorotUniform)(rng, [channels, Filters, KernelSize, KernelSize], channels * window, Filters * window);
        var parameters = UseBias
            ? TensorTree.Of(("kernel", kernel), ("bias", Initializers.Filled([Filters], 0)))
            : TensorTree.Of(("kernel", kernel));
        return new Variables(parameters, TensorTree.Empty);
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        long channels = RequireVariable(variables.Params, "kernel", -1, Filters, KernelSize, KernelSize).shape[0];
        if (UseBias) RequireVariable(variables.Params, "bias", Filters);
        if (input.dim() != 4 || input.shape[1] != channels)
            throw ShapeError($"(batch, {channels}, height, width)", input.shape[1..]);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var p = variables.Params;
        var y = torch.nn.functional.conv_transpose2d(input, p["kernel"], UseBias ? p["bias"] : null,
            strides: [Stride, Stride], padding: [Pad, Pad], output_padding: [OutputPadding, OutputPadding]);
        return (Activation.Invoke(y), variables.State);
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        var p = variables.Params;
        string[] inputs = UseBias ? [input, graph.Constant("kernel", p["kernel"]), graph.Constant("bias", p["bias"])] : [input, graph.Constant("kernel", p["kernel"])];
        return graph.Activation(Activation, graph.Node("ConvTranspose", "conv_transpose", inputs,
            OnnxGraph.Ints("kernel_shape", [KernelSize, KernelSize]), OnnxGraph.Ints("strides", [Stride, Stride]),
            OnnxGraph.Ints("pads", [Pad, Pad, Pad, Pad]), OnnxGraph.Ints("output_padding", [OutputPadding, OutputPadding])));
    }
}
