using Functional.Export;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>How <see cref="Bidirectional"/> joins the forward and backward outputs.</summary>
public enum BidirectionalMerge
{
    /// <summary>Side by side along the last axis (twice the units).</summary>
    Concatenate,
    /// <summary>Their sum.</summary>
    Sum,
    /// <summary>Their element-wise product.</summary>
    Multiply,
    /// <summary>Their mean.</summary>
    Average,
}

/// <summary>
/// Runs a recurrent layer over the sequence forwards and, with variables of its own, backwards,
/// and merges the two (Keras's Bidirectional): input (batch, time, features). A backward
/// sequence output is turned back to forward time before merging. Variables "forward/..." and
/// "backward/...".
/// </summary>
[LayerKind("bidirectional")]
public sealed class Bidirectional(ILayer layer, BidirectionalMerge merge = BidirectionalMerge.Concatenate, string? name = null)
    : IDescribedLayer, IOnnxExportable
{
    /// <summary>The recurrent layer run in both directions.</summary>
    public ILayer Inner { get; } = layer ?? throw new ArgumentNullException(nameof(layer));

    /// <summary>How the two directions are joined.</summary>
    public BidirectionalMerge Merge { get; } = Enum.IsDefined(merge) ? merge : throw new ArgumentOutOfRangeException(nameof(merge));

    /// <inheritdoc/>
    public string Name { get; } = name ?? "bidirectional";

    /// <inheritdoc/>
    public string Kind => "bidirectional";

    /// <inheritdoc/>
    public LayerConfig Config => new() { { "layer", Inner }, { "merge", Merge } };

    /// <summary>The layer a configuration describes.</summary>
    public static Bidirectional FromConfig(LayerConfig config, string? name) =>
        new(config.Layer("layer"), config.Enum<BidirectionalMerge>("merge"), name);

    /// <inheritdoc/>
    public long[] OutputShape(long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length != 2)
            throw new ShapeException($"Layer '{Name}' (bidirectional) expects input of shape (batch, time, features), but received {ShapeException.FormatBatch(inputShape)}.");
        var output = Inner.OutputShape(inputShape);
        return Merge == BidirectionalMerge.Concatenate ? [.. output[..^1], output[^1] * 2] : output;
    }

    /// <summary>Whether the wrapped layer returns a sequence (a time axis to turn back).</summary>
    bool Sequences(long[] inputShape) => Inner.OutputShape(inputShape).Length == 2;

    /// <inheritdoc/>
    public Variables Init(torch.Generator rng, long[] inputShape)
    {
        ShapeException.RequireValid(inputShape, $"Layer '{Name}' (bidirectional)");
        OutputShape(inputShape);
        var forward = Inner.Init(rng, inputShape);
        var backward = Inner.Init(rng, inputShape);
        return new Variables(TensorTree.Node(("forward", forward.Params), ("backward", backward.Params)),
            TensorTree.Node(("forward", forward.State), ("backward", backward.State)));
    }

    static Variables Direction(Variables variables, string direction) =>
        new(variables.Params.Select(direction), variables.State.Select(direction));

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 3)
            throw new ShapeException($"Layer '{Name}' (bidirectional) expects input of shape (batch, time, features), but received {ShapeException.Format(input.shape)}.");
        var (forward, forwardState) = Inner.Apply(Direction(variables, "forward"), input, context.For("forward"));
        var (backward, backwardState) = Inner.Apply(Direction(variables, "backward"), input.flip(1), context.For("backward"));
        if (backward.dim() == 3) backward = backward.flip(1);
        var output = Merge switch
        {
            BidirectionalMerge.Concatenate => torch.cat([forward, backward], -1),
            BidirectionalMerge.Sum => forward + backward,
            BidirectionalMerge.Multiply => forward * backward,
            _ => (forward + backward) * 0.5,
        };
        return (output, TensorTree.Node(("forward", forwardState), ("backward", backwardState)));
    }

    /// <inheritdoc/>
    public string ToOnnx(OnnxGraph graph, string input, long[] inputShape, Variables variables)
    {
        string Reversed(string x) => graph.Node("Slice", "reverse",
            [x, graph.Constant("starts", -1L), graph.Constant("ends", long.MinValue), graph.Constant("axes", 1L), graph.Constant("steps", -1L)]);
        var forward = graph.Lower(Inner, input, inputShape, Direction(variables, "forward"));
        var backward = graph.Lower(Inner, Reversed(input), inputShape, Direction(variables, "backward"));
        if (Sequences(inputShape)) backward = Reversed(backward);
        return Merge switch
        {
            BidirectionalMerge.Concatenate => graph.Node("Concat", "bidirectional", [forward, backward], OnnxGraph.Int("axis", -1)),
            BidirectionalMerge.Sum => graph.Node("Add", "bidirectional", [forward, backward]),
            BidirectionalMerge.Multiply => graph.Node("Mul", "bidirectional", [forward, backward]),
            _ => graph.Node("Mul", "bidirectional", [graph.Node("Add", "bidirectional", [forward, backward]), graph.Scalar("half", 0.5f)]),
        };
    }
}
