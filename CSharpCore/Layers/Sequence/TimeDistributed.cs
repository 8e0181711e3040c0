using Functional.Export;
using Functional.Trees;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Applies a layer to every time step alike (Keras's TimeDistributed): (batch, time, ...) to
/// (batch, time, layer's output...). The steps share the wrapped layer's variables, which are
/// this layer's.
/// </summary>
[LayerKind("time_distributed")]
public sealed class TimeDistributed(ILayer layer, string? name = null) : IDescribedLayer, IOnnxExportable
{
    /// <summary>The layer applied at each step.</summary>
    public ILayer Inner { get; } = layer ?? throw new ArgumentNullException(nameof(layer));

    /// <inheritdoc/>
    public string Name { get; } = name ?? "time_distributed";

    /// <inheritdoc/>
    public string Kind => "time_distributed";

    /// <inheritdoc/>
    public LayerConfig Config => new() { { "layer", Inner } };

    /// <summary>The layer a configuration describes.</summary>
    public static TimeDistributed FromConfig(LayerConfig config, string? name) => new(config.Layer("layer"), name);

    /// <inheritdoc/>
    public long[] OutputShape(long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length < 2)
            throw new ShapeException($"Layer '{Name}' (time_distributed) expects input of shape (batch, time, ...), but received {ShapeException.FormatBatch(inputShape)}.");
        return [inputShape[0], .. Inner.OutputShape(inputShape[1..])];
    }

    /// <inheritdoc/>
    public Variables Init(TorchSharp.torch.Generator rng, long[] inputShape)
    {
        ShapeException.RequireValid(inputShape, $"Layer '{Name}' (time_distributed)");
        OutputShape(inputShape);
        return Inner.Init(rng, inputShape[1..]);
    }

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() < 3)
            throw new ShapeException($"Layer '{Name}' (time_distributed) expects input of shape (batch, time, ...), but received {ShapeException.Format(input.shape)}.");
        long batch = input.shape[0], time = input.shape[1];
        var (y, state) = Inner.Apply(variables, input.reshape([batch * time, .. input.shape[2..]]), context);
        return (y.reshape([batch, time, .. y.shape[1..]]), state);
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        var steps = graph.Node("Reshape", "steps", [input, graph.Constant("shape", [-1L, .. inputShape[1..]])]);
        var y = graph.Lower(Inner, steps, inputShape[1..], variables);
        return graph.Node("Reshape", "sequence", [y, graph.Constant("shape", [-1L, inputShape[0], .. Inner.OutputShape(inputShape[1..])])]);
    }
}
