using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// Layers applied one after the other. Each layer's parameters and state sit under its name
/// (<c>"dense/kernel"</c>, <c>"dense_1/kernel"</c>, ...); repeated names get a suffix as in Keras.
/// A Sequential is itself a layer, so models nest.
/// </summary>
[LayerKind("sequential")]
public sealed class Sequential : IDescribedLayer, ICompositeLayer
{
    /// <summary>A model of <paramref name="layers"/>, in order.</summary>
    public Sequential(params ILayer[] layers) : this(layers, null) { }

    /// <summary>A named model of <paramref name="layers"/>, in order.</summary>
    public Sequential(IEnumerable<ILayer> layers, string? name)
    {
        var list = layers.ToList();
        if (list.Count == 0) throw new ArgumentException("A Sequential model needs at least one layer.", nameof(layers));
        if (list.Any(l => l is null)) throw new ArgumentException("A Sequential model cannot hold a null layer.", nameof(layers));
        Name = name ?? "sequential";
        Layers = UniqueNames(list);
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string Kind => "sequential";

    /// <inheritdoc/>
    public LayerConfig Config => new() { { "layers", Layers.Select(l => l.Layer) } };

    /// <summary>The model a configuration describes.</summary>
    public static Sequential FromConfig(LayerConfig config, string? name) => new(config.Layers("layers"), name);

    /// <inheritdoc/>
    public IReadOnlyList<T> Walk<T>(ILayerVisitor<T> visitor, IReadOnlyList<T> inputs, IReadOnlyList<long[]> inputShapes, string path)
    {
        var (x, shape) = NetworkWalk.Single(this, inputs, inputShapes);
        foreach (var (name, layer) in Layers)
        {
            x = NetworkWalk.Visit(layer, visitor, x, shape, TreePath.Join(path, name));
            shape = layer.OutputShape(shape);
        }
        return [x];
    }

    /// <summary>The layers with the names their variables are stored under.</summary>
    public IReadOnlyList<(string Name, ILayer Layer)> Layers { get; }

    static (string, ILayer)[] UniqueNames(List<ILayer> layers)
    {
        var used = new Dictionary<string, int>(StringComparer.Ordinal);
        return layers.Select(layer =>
        {
            var name = layer.Name;
            if (used.TryGetValue(name, out var count))
            {
                used[name] = count + 1;
                name = $"{name}_{count}";
            }
            else used[name] = 1;
            return (name, layer);
        }).ToArray();
    }

    /// <inheritdoc/>
    public long[] OutputShape(long[] inputShape) => Layers.Aggregate(inputShape, (shape, l) => l.Layer.OutputShape(shape));

    /// <inheritdoc/>
    public Variables Init(torch.Generator rng, long[] inputShape)
    {
        ShapeException.RequireValid(inputShape, $"Sequential '{Name}'");
        var parameters = new List<(string, TensorTree)>();
        var state = new List<(string, TensorTree)>();
        var shape = inputShape;
        foreach (var (name, layer) in Layers)
        {
            var v = layer.Init(rng, shape);
            parameters.Add((name, v.Params));
            state.Add((name, v.State));
            shape = layer.OutputShape(shape);
        }
        return new Variables(TensorTree.Node([.. parameters]), TensorTree.Node([.. state]));
    }

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var x = input;
        var newState = new List<(string, TensorTree)>(Layers.Count);
        foreach (var (name, layer) in Layers)
        {
            var own = new Variables(variables.Params.Select(name), variables.State.Select(name));
            (x, var state) = LayerCall.Apply(layer, own, x, context.For(name), name);
            newState.Add((name, state));
        }
        return (x, TensorTree.Node([.. newState]));
    }

    /// <summary>
    /// A table of the layer calls with their output shapes and parameter counts, and the totals,
    /// for inputs of the given per-example shape (Keras's <c>summary()</c>).
    /// </summary>
    public string Summary(long[] inputShape) => SummaryTable.Of(this, [inputShape]);
}
