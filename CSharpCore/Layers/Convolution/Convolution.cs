using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Convolution over 1 or 2 spatial axes, channels first: per-example input (channels, length)
/// or (channels, height, width). Parameters: "kernel" (filters, channels, k...) and "bias"
/// (filters). <see cref="Conv1D"/> and <see cref="Conv2D"/> are the public faces.
/// </summary>
public abstract class Convolution : Layer, IOnnxExportable
{
    private protected Convolution(int rank, long filters, long[] kernelSize, long[]? strides, Padding padding,
        ActivationFunction? activation, bool useBias, Initializer? kernelInitializer, string? name) : base(name)
    {
        Rank = rank;
        Filters = filters > 0 ? filters : throw new ArgumentOutOfRangeException(nameof(filters), filters, "A convolution needs at least one filter.");
        Padding = padding;
        KernelSize = SpatialShape.Validate(kernelSize, rank, "kernel", padding);
        Strides = SpatialShape.Validate(strides ?? [.. Enumerable.Repeat(1L, rank)], rank, "stride", Padding.Valid);
        Activation = activation ?? ActivationFunction.Linear;
        UseBias = useBias;
        KernelInitializer = kernelInitializer ?? Initializers.GlorotUniform;
    }

    /// <summary>Spatial axes: 1 or 2.</summary>
    public int Rank { get; }
    /// <summary>Output channels.</summary>
    public long Filters { get; }
    /// <summary>Window size per spatial axis.</summary>
    public long[] KernelSize { get; }
    /// <summary>Step per spatial axis.</summary>
    public long[] Strides { get; }
    /// <summary>Border handling.</summary>
    public Padding Padding { get; }
    /// <summary>Applied to the output.</summary>
    public ActivationFunction Activation { get; }
    /// <summary>Whether there is a bias.</summary>
    public bool UseBias { get; }
    /// <summary>Makes the kernel.</summary>
    public Initializer KernelInitializer { get; }

    string ExpectedShape(string channels) =>
        Rank == 1 ? $"(batch, {channels}, length)" : $"(batch, {channels}, height, width)";

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        [Filters, .. SpatialShape.SlideOver(inputShape, KernelSize, Strides, Padding, $"'{Name}' ({Kind})", "kernel")];

    /// <inheritdoc/>
    protected override Variables Initialize(torch.Generator rng, long[] inputShape)
    {
        OutputShape(inputShape);
        long channels = inputShape[0], window = KernelSize.Aggregate(1L, (a, b) => a * b);
        var kernel = KernelInitializer(rng, [Filters, channels, .. KernelSize], channels * window, Filters * window);
        var parameters = UseBias
            ? TensorTree.Of(("kernel", kernel), ("bias", Initializers.Filled([Filters], 0)))
            : TensorTree.Of(("kernel", kernel));
        return new Variables(parameters, TensorTree.Empty);
    }

    /// <inheritdoc/>
    protected override void CheckInput(Variables variables, Tensor input)
    {
        long channels = variables.Params["kernel"].shape[1];
        if (input.dim() != Rank + 2 || input.shape[1] != channels)
            throw ShapeError(ExpectedShape(channels.ToString()), input.shape[1..]);
        OutputShape(input.shape[1..]);
    }

    /// <inheritdoc/>
    public override LayerConfig Config => new()
    {
        { "filters", Filters }, { "kernel_size", KernelSize[0] }, { "stride", Strides[0] },
        { "padding", Padding }, { "activation", Activation }, { "use_bias", UseBias },
    };

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        var pads = KernelSize.Select(k => SpatialShape.PaddingFor(Padding, k)).ToArray();
        var p = variables.Params;
        string[] inputs = UseBias ? [input, graph.Constant("kernel", p["kernel"]), graph.Constant("bias", p["bias"])] : [input, graph.Constant("kernel", p["kernel"])];
        return graph.Activation(Activation, graph.Node("Conv", "conv", inputs,
            OnnxGraph.Ints("kernel_shape", KernelSize), OnnxGraph.Ints("strides", Strides), OnnxGraph.Ints("pads", [.. pads, .. pads])));
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var p = variables.Params;
        var bias = UseBias ? p["bias"] : null;
        var padding = KernelSize.Select(k => SpatialShape.PaddingFor(Padding, k)).ToArray();
        var y = Rank == 1
            ? torch.nn.functional.conv1d(input, p["kernel"], bias, Strides[0], padding[0])
            : torch.nn.functional.conv2d(input, p["kernel"], bias, Strides, padding);
        return (Activation.Invoke(y), variables.State);
    }
}

/// <summary>1-D convolution: per-example input (channels, length).</summary>
[LayerKind("conv1d")]
public sealed class Conv1D(
    long filters, long kernelSize, long stride = 1, Padding padding = Padding.Valid,
    ActivationFunction? activation = null, bool useBias = true, Initializer? kernelInitializer = null, string? name = null)
    : Convolution(1, filters, [kernelSize], [stride], padding, activation, useBias, kernelInitializer, name)
{
    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static Conv1D FromConfig(LayerConfig config, string? name) =>
        new(config.Long("filters"), config.Long("kernel_size"), config.Long("stride"), config.Enum<Padding>("padding"),
            config.Activation("activation"), config.Bool("use_bias"), name: name);
}

/// <summary>2-D convolution: per-example input (channels, height, width).</summary>
[LayerKind("conv2d")]
public sealed class Conv2D(
    long filters, long kernelSize, long stride = 1, Padding padding = Padding.Valid,
    ActivationFunction? activation = null, bool useBias = true, Initializer? kernelInitializer = null, string? name = null)
    : Convolution(2, filters, [kernelSize, kernelSize], [stride, stride], padding, activation, useBias, kernelInitializer, name)
{
    /// <summary>The layer a configuration describes (initialisers are not saved).</summary>
    public static Conv2D FromConfig(LayerConfig config, string? name) =>
        new(config.Long("filters"), config.Long("kernel_size"), config.Long("stride"), config.Enum<Padding>("padding"),
            config.Activation("activation"), config.Bool("use_bias"), name: name);
}
