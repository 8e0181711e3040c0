namespace Functional.Layers;

/// <summary>
/// A value in a functional model under construction (Keras's symbolic tensor): its
/// per-example shape is known, its data is not. Made by <see cref="Graph.Input"/>, by calling a
/// layer on one (<see cref="Graph.Call"/>) and by merges (<see cref="Graph.Add"/>,
/// <see cref="Graph.Concatenate"/>).
/// </summary>
public sealed class SymbolicTensor
{
    internal SymbolicTensor(GraphNode node, long[] shape) => (Node, Shape) = (node, shape);

    internal GraphNode Node { get; }

    /// <summary>Per-example shape (no batch dimension).</summary>
    public long[] Shape { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Node.Describe()} {ShapeException.FormatBatch(Shape)}";
}

/// <summary>How a node of a functional model is computed.</summary>
abstract record GraphNode(IReadOnlyList<SymbolicTensor> Inputs)
{
    public abstract string Describe();
}

sealed record InputNode(string Name, int Index) : GraphNode([])
{
    public override string Describe() => $"input '{Name}'";
}

sealed record LayerNode(ILayer Layer, SymbolicTensor Input) : GraphNode([Input])
{
    public override string Describe() => $"layer '{Layer.Name}'";
}

sealed record MergeNode(string Kind, int Axis, IReadOnlyList<SymbolicTensor> Parts) : GraphNode(Parts)
{
    public override string Describe() => Kind;
}

/// <summary>
/// Keras's functional API: build a graph of layers on symbolic inputs, with branches, merges,
/// shared layers (one layer called twice shares its variables) and several inputs and outputs,
/// then make it a <see cref="FunctionalModel"/>. Shapes are checked as the graph is built.
/// </summary>
/// <example><code>
/// var tokens = Graph.Input([16, 8], "tokens");
/// var h = new Dense(32, ActivationFunction.Relu).Call(tokens);
/// var y = Graph.Add(h, new Dense(32).Call(h));
/// var model = new FunctionalModel([tokens], [new Dense(2).Call(new GlobalPool().Call(y))]);
/// </code></example>
public static class Graph
{
    static int inputCount;

    /// <summary>A model input of per-example shape <paramref name="shape"/>.</summary>
    public static SymbolicTensor Input(long[] shape, string? name = null)
    {
        ShapeException.RequireValid(shape, $"Graph.Input '{name ?? "input"}'");
        int index = Interlocked.Increment(ref inputCount);
        return new SymbolicTensor(new InputNode(name ?? $"input_{index}", index), shape);
    }

    /// <summary>The layer applied to <paramref name="input"/>; throws <see cref="ShapeException"/> now if it cannot take its shape.</summary>
    public static SymbolicTensor Call(this ILayer layer, SymbolicTensor input)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(input);
        return new SymbolicTensor(new LayerNode(layer, input), layer.OutputShape(input.Shape));
    }

    /// <summary>The element-wise sum of tensors of the same shape (a residual connection, say).</summary>
    public static SymbolicTensor Add(params SymbolicTensor[] parts)
    {
        if (parts.Length < 2) throw new ArgumentException("Add needs at least two tensors.", nameof(parts));
        foreach (var p in parts)
            if (!p.Shape.SequenceEqual(parts[0].Shape))
                throw new ShapeException(
                    $"Add needs tensors of one shape; got {string.Join(" and ", parts.Select(q => q.ToString()))}.");
        return new SymbolicTensor(new MergeNode("add", 0, parts), parts[0].Shape);
    }

    /// <summary>Tensors joined along per-example axis <paramref name="axis"/> (negative counts
    /// from the end); the other axes must match.</summary>
    public static SymbolicTensor Concatenate(int axis, params SymbolicTensor[] parts)
    {
        if (parts.Length < 2) throw new ArgumentException("Concatenate needs at least two tensors.", nameof(parts));
        int rank = parts[0].Shape.Length;
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentOutOfRangeException(nameof(axis), axis, $"Concatenate's axis must be within the rank {rank}.");
        foreach (var p in parts)
            if (p.Shape.Length != rank || Enumerable.Range(0, rank).Any(d => d != a && p.Shape[d] != parts[0].Shape[d]))
                throw new ShapeException(
                    $"Concatenate along axis {axis} needs the other axes to match; got {string.Join(" and ", parts.Select(q => q.ToString()))}.");
        var shape = (long[])parts[0].Shape.Clone();
        shape[a] = parts.Sum(p => p.Shape[a]);
        return new SymbolicTensor(new MergeNode("concatenate", a, parts), shape);
    }
}
