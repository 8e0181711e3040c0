namespace Functional.Layers;

/// <summary>What a walk over a network does at each layer call and each merge; <typeparamref name="T"/>
/// is what flows along the edges (an ONNX value name, a TensorBoard node, a shape).</summary>
public interface ILayerVisitor<T>
{
    /// <summary>A call of a layer that is not a composite: its input, the input's per-example
    /// shape, and its variables' path in the network ("" for the network itself).</summary>
    T Layer(ILayer layer, T input, long[] inputShape, string path);

    /// <summary>A merge of several values ("add", or "concatenate" along per-example
    /// <paramref name="axis"/>) at <paramref name="path"/> (a name for the merge, not a variables path).</summary>
    T Merge(string kind, int axis, IReadOnlyList<T> parts, IReadOnlyList<long[]> shapes, string path);
}

/// <summary>A layer made of other layers (Sequential, Residual, functional models): it lays
/// itself out as calls of its parts, so every walk sees through it.</summary>
public interface ICompositeLayer : ILayer
{
    /// <summary>Visits the calls this layer makes, in evaluation order, for inputs of the given
    /// shapes (one per input of the layer) with variables under <paramref name="path"/>; the outputs.</summary>
    IReadOnlyList<T> Walk<T>(ILayerVisitor<T> visitor, IReadOnlyList<T> inputs, IReadOnlyList<long[]> inputShapes, string path);
}

/// <summary>
/// The one walk over a network's graph of layer calls. Summary tables, the TensorBoard graph and
/// ONNX export are visitors; composites lay themselves out, every other layer is one call.
/// </summary>
public static class NetworkWalk
{
    /// <summary>Visits <paramref name="layer"/> called on one input; its output.</summary>
    public static T Visit<T>(ILayer layer, ILayerVisitor<T> visitor, T input, long[] inputShape, string path = "")
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(visitor);
        if (layer is not ICompositeLayer composite) return visitor.Layer(layer, input, inputShape, path);
        var outputs = composite.Walk(visitor, [input], [inputShape], path);
        return outputs.Count == 1 ? outputs[0]
            : throw new NotSupportedException($"Layer '{layer.Name}' has {outputs.Count} outputs; used as a layer it must have one.");
    }

    /// <summary>Visits a network with any number of inputs; its outputs.</summary>
    public static IReadOnlyList<T> VisitAll<T>(ILayer layer, ILayerVisitor<T> visitor, IReadOnlyList<T> inputs, IReadOnlyList<long[]> inputShapes)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return layer is ICompositeLayer composite ? composite.Walk(visitor, inputs, inputShapes, "")
            : inputs.Count == 1 ? [visitor.Layer(layer, inputs[0], inputShapes[0], "")]
            : throw new ArgumentException($"Layer '{layer.Name}' takes one input, not {inputs.Count}.", nameof(inputs));
    }

    /// <summary>How a layer call is named in tables, graphs and errors: its path, or the
    /// network's own name at the top.</summary>
    public static string Label(ILayer layer, string path) => path.Length == 0 ? layer.Name : path;

    /// <summary>The one input of a composite that takes one.</summary>
    internal static (T Input, long[] Shape) Single<T>(ILayer layer, IReadOnlyList<T> inputs, IReadOnlyList<long[]> shapes) =>
        inputs.Count == 1 && shapes.Count == 1 ? (inputs[0], shapes[0])
        : throw new ArgumentException($"Layer '{layer.Name}' takes one input, not {inputs.Count}.", nameof(inputs));
}
