using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>Which reduction a pooling layer applies.</summary>
public enum PoolKind
{
    /// <summary>Maximum over the window.</summary>
    Max,
    /// <summary>Mean over the window (padding not counted).</summary>
    Average,
}

/// <summary>
/// Pooling over 1 or 2 spatial axes, channels first; window and stride per axis (stride
/// defaults to the window). <see cref="MaxPool2D"/>, <see cref="AveragePool2D"/>,
/// <see cref="MaxPool1D"/> and <see cref="AveragePool1D"/> are the public faces.
/// </summary>
public abstract class Pooling : Layer, IOnnxExportable
{
    private protected Pooling(int rank, PoolKind kind, long poolSize, long? stride, Padding padding, string? name) : base(name)
    {
        Rank = rank;
        Reduction = kind;
        Padding = padding;
        PoolSize = SpatialShape.Validate([.. Enumerable.Repeat(poolSize, rank)], rank, "pool", padding);
        Strides = SpatialShape.Validate([.. Enumerable.Repeat(stride ?? poolSize, rank)], rank, "stride", Padding.Valid);
    }

    /// <summary>Spatial axes: 1 or 2.</summary>
    public int Rank { get; }
    /// <summary>Max or average.</summary>
    public PoolKind Reduction { get; }
    /// <summary>Window per axis.</summary>
    public long[] PoolSize { get; }
    /// <summary>Step per axis.</summary>
    public long[] Strides { get; }
    /// <summary>Border handling.</summary>
    public Padding Padding { get; }

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        [inputShape.FirstOrDefault(), .. SpatialShape.SlideOver(inputShape, PoolSize, Strides, Padding, $"'{Name}' ({Kind})", "pool")];

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "pool_size", PoolSize[0] }, { "stride", Strides[0] }, { "padding", Padding } };

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        var pads = PoolSize.Select(k => SpatialShape.PaddingFor(Padding, k)).ToArray();
        OnnxAttribute[] window = [OnnxGraph.Ints("kernel_shape", PoolSize), OnnxGraph.Ints("strides", Strides), OnnxGraph.Ints("pads", [.. pads, .. pads])];
        return Reduction == PoolKind.Max
            ? graph.Node("MaxPool", "pool", [input], [.. window])
            : graph.Node("AveragePool", "pool", [input], [.. window, OnnxGraph.Int("count_include_pad", 0)]);
    }

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var padding = PoolSize.Select(k => SpatialShape.PaddingFor(Padding, k)).ToArray();
        var y = (Rank, Reduction) switch
        {
            (1, PoolKind.Max) => torch.nn.functional.max_pool1d(input, PoolSize[0], Strides[0], padding[0]),
            (1, _) => torch.nn.functional.avg_pool1d(input, PoolSize[0], Strides[0], padding[0], count_include_pad: false),
            (_, PoolKind.Max) => MaxPool2dByIndices(input, padding),
            _ => torch.nn.functional.avg_pool2d(input, PoolSize, Strides, padding, count_include_pad: false),
        };
        return (y, variables.State);
    }

    /// <summary>
    /// 2-D max pooling, fast on CPU: libtorch's kernel for the usual (batch, channels, height,
    /// width) layout is not vectorised (7 ms for the MNIST CNN's first pooling, where the same
    /// pooling of a channels-last copy takes 0.4 ms). So the winners are found on a channels-last
    /// copy, without recording, and the output gathers them from the input by their indices:
    /// the same values and the same gradients as max_pool2d (the gradient goes to each window's
    /// winner, through gather's backward, which is differentiable again), in a third of the time
    /// for forward and backward together.
    /// </summary>
    Tensor MaxPool2dByIndices(Tensor input, long[] padding)
    {
        if (input.dim() != 4) return torch.nn.functional.max_pool2d(input, PoolSize, Strides, padding);
        Tensor indices;
        using (torch.no_grad())
        using (var channelsLast = input.detach().permute(0, 2, 3, 1).contiguous())
        using (var viewed = channelsLast.permute(0, 3, 1, 2))
        {
            var (values, found) = torch.nn.functional.max_pool2d_with_indices(viewed, PoolSize, Strides, padding);
            values.Dispose();
            indices = found;
        }
        using (indices)
        using (var flatIndices = indices.flatten(2))
        using (var flatInput = input.flatten(2))
        using (var gathered = flatInput.gather(2, flatIndices))
            return gathered.view(indices.shape);
    }
}

/// <summary>2-D max pooling: per-example (channels, height, width).</summary>
[LayerKind("max_pool2d")]
public sealed class MaxPool2D(long poolSize = 2, long? stride = null, Padding padding = Padding.Valid, string? name = null)
    : Pooling(2, PoolKind.Max, poolSize, stride, padding, name)
{
    /// <summary>The layer a configuration describes.</summary>
    public static MaxPool2D FromConfig(LayerConfig config, string? name) =>
        new(config.Long("pool_size"), config.Long("stride"), config.Enum<Padding>("padding"), name);
}

/// <summary>2-D average pooling: per-example (channels, height, width).</summary>
[LayerKind("average_pool2d")]
public sealed class AveragePool2D(long poolSize = 2, long? stride = null, Padding padding = Padding.Valid, string? name = null)
    : Pooling(2, PoolKind.Average, poolSize, stride, padding, name)
{
    /// <summary>The layer a configuration describes.</summary>
    public static AveragePool2D FromConfig(LayerConfig config, string? name) =>
        new(config.Long("pool_size"), config.Long("stride"), config.Enum<Padding>("padding"), name);
}

/// <summary>1-D max pooling: per-example (channels, length).</summary>
[LayerKind("max_pool1d")]
public sealed class MaxPool1D(long poolSize = 2, long? stride = null, Padding padding = Padding.Valid, string? name = null)
    : Pooling(1, PoolKind.Max, poolSize, stride, padding, name)
{
    /// <summary>The layer a configuration describes.</summary>
    public static MaxPool1D FromConfig(LayerConfig config, string? name) =>
        new(config.Long("pool_size"), config.Long("stride"), config.Enum<Padding>("padding"), name);
}

/// <summary>1-D average pooling: per-example (channels, length).</summary>
[LayerKind("average_pool1d")]
public sealed class AveragePool1D(long poolSize = 2, long? stride = null, Padding padding = Padding.Valid, string? name = null)
    : Pooling(1, PoolKind.Average, poolSize, stride, padding, name)
{
    /// <summary>The layer a configuration describes.</summary>
    public static AveragePool1D FromConfig(LayerConfig config, string? name) =>
        new(config.Long("pool_size"), config.Long("stride"), config.Enum<Padding>("padding"), name);
}

/// <summary>Max or mean over every spatial axis, channels first: (channels, ...) to (channels).</summary>
[LayerKind("global_pool")]
public sealed class GlobalPool(PoolKind reduction = PoolKind.Average, string? name = null) : Layer(name), IOnnxExportable
{
    /// <summary>Max or average.</summary>
    public PoolKind Reduction { get; } = reduction;

    /// <inheritdoc/>
    public override string Kind => Reduction == PoolKind.Max ? "global_max_pool" : "global_average_pool";

    /// <inheritdoc/>
    public override LayerConfig Config => new() { { "reduction", Reduction } };

    /// <summary>The layer a configuration describes.</summary>
    public static GlobalPool FromConfig(LayerConfig config, string? name) => new(config.Enum<PoolKind>("reduction"), name);

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables) =>
        graph.Node("Flatten", "flatten", [graph.Node(Reduction == PoolKind.Max ? "GlobalMaxPool" : "GlobalAveragePool", "global_pool", [input])],
            OnnxGraph.Int("axis", 1));

    /// <inheritdoc/>
    public override long[] OutputShape(long[] inputShape) =>
        inputShape.Length >= 2 ? [inputShape[0]] : throw ShapeError("(batch, channels, spatial...)", inputShape);

    /// <inheritdoc/>
    protected override (Tensor Output, TensorTree State) Forward(Variables variables, Tensor input, ApplyContext context)
    {
        var flat = input.flatten(2);
        return (Reduction == PoolKind.Max ? flat.amax([2]) : flat.mean([2]), variables.State);
    }
}
