using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Layers;

/// <summary>
/// A model built with <see cref="Graph"/>: any graph of layers from inputs to outputs. Each
/// distinct layer's variables sit under its name (made unique as in Keras); a layer called
/// several times is one layer with one set of variables. With one input and one output it is an
/// <see cref="ILayer"/>, usable in Sequential and in training; <see cref="ApplyAll"/> takes any
/// number of inputs and returns every output.
/// </summary>
[LayerKind("functional")]
public sealed class FunctionalModel : IDescribedLayer, ICompositeLayer
{
    readonly SymbolicTensor[] inputs, outputs;
    readonly GraphNode[] order;
    readonly (string Name, ILayer Layer, long[] InputShape)[] layers;
    readonly Dictionary<ILayer, string> names = new(ReferenceEqualityComparer.Instance);

    /// <summary>The model from <paramref name="modelInputs"/> to <paramref name="modelOutputs"/>.</summary>
    /// <exception cref="ArgumentException">An output depends on an input that is not listed.</exception>
    public FunctionalModel(IReadOnlyList<SymbolicTensor> modelInputs, IReadOnlyList<SymbolicTensor> modelOutputs, string? name = null)
    {
        if (modelInputs.Count == 0 || modelOutputs.Count == 0) throw new ArgumentException("A model needs at least one input and one output.");
        (inputs, outputs, Name) = (modelInputs.ToArray(), modelOutputs.ToArray(), name ?? "functional");
        var visited = new HashSet<GraphNode>(ReferenceEqualityComparer.Instance);
        var sorted = new List<GraphNode>();
        void Visit(GraphNode node)
        {
            if (!visited.Add(node)) return;
            foreach (var input in node.Inputs) Visit(input.Node);
            sorted.Add(node);
        }
        foreach (var output in outputs) Visit(output.Node);
        foreach (var node in sorted.OfType<InputNode>())
            if (!inputs.Any(i => ReferenceEquals(i.Node, node)))
                throw new ArgumentException($"The outputs depend on {node.Describe()}, which is not among the model's inputs.");
        order = [.. sorted];
        var used = new Dictionary<string, int>(StringComparer.Ordinal);
        var list = new List<(string, ILayer, long[])>();
        foreach (var node in order.OfType<LayerNode>())
        {
            if (names.ContainsKey(node.Layer)) continue;
            var unique = used.TryGetValue(node.Layer.Name, out var n) ? $"{node.Layer.Name}_{n}" : node.Layer.Name;
            used[node.Layer.Name] = n + 1;
            names[node.Layer] = unique;
            list.Add((unique, node.Layer, node.Input.Shape));
        }
        layers = [.. list];
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string Kind => "functional";

    /// <inheritdoc/>
    public LayerConfig Config => GraphConfig.Of(this);

    /// <summary>The model a configuration describes.</summary>
    public static FunctionalModel FromConfig(LayerConfig config, string? name) => GraphConfig.Build(config, name);

    /// <inheritdoc/>
    public IReadOnlyList<T> Walk<T>(ILayerVisitor<T> visitor, IReadOnlyList<T> values, IReadOnlyList<long[]> inputShapes, string path)
    {
        ArgumentNullException.ThrowIfNull(visitor);
        if (values.Count != inputs.Length)
            throw new ArgumentException($"Model '{Name}' takes {inputs.Length} input(s); got {values.Count}.", nameof(values));
        var results = new Dictionary<GraphNode, T>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < inputs.Length; i++) results[inputs[i].Node] = values[i];
        var merges = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in order)
        {
            switch (node)
            {
                case LayerNode l:
                    results[node] = NetworkWalk.Visit(l.Layer, visitor, results[l.Input.Node], l.Input.Shape, TreePath.Join(path, names[l.Layer]));
                    break;
                case MergeNode m:
                    int k = merges.GetValueOrDefault(m.Kind);
                    merges[m.Kind] = k + 1;
                    results[node] = visitor.Merge(m.Kind, m.Axis, [.. m.Parts.Select(p => results[p.Node])], [.. m.Parts.Select(p => p.Shape)],
                        TreePath.Join(path, k == 0 ? m.Kind : $"{m.Kind}_{k}"));
                    break;
            }
        }
        return [.. outputs.Select(o => results[o.Node])];
    }

    /// <summary>The graph in evaluation order, for serialisation.</summary>
    internal IReadOnlyList<GraphNode> Nodes => order;
    internal IReadOnlyList<SymbolicTensor> Inputs => inputs;
    internal IReadOnlyList<SymbolicTensor> Outputs => outputs;
    internal string LayerName(ILayer layer) => names[layer];

    /// <summary>The inputs' names (<see cref="Graph.Input"/>'s), in order: a model trained on
    /// named data takes a leaf per name.</summary>
    public IReadOnlyList<string> InputNames => inputs.Select(i => ((InputNode)i.Node).Name).ToArray();

    /// <summary>The outputs' names, in order (Keras's output names): the name of the layer or
    /// merge that makes each output (made unique with "_1", "_2", ... when two outputs share one).</summary>
    public IReadOnlyList<string> OutputNames
    {
        get
        {
            var used = new Dictionary<string, int>(StringComparer.Ordinal);
            return [.. outputs.Select(o =>
            {
                var name = o.Node switch
                {
                    LayerNode l => names[l.Layer],
                    InputNode i => i.Name,
                    MergeNode m => m.Kind,
                    _ => "output",
                };
                int n = used.GetValueOrDefault(name);
                used[name] = n + 1;
                return n == 0 ? name : $"{name}_{n}";
            })];
        }
    }

    /// <summary>Per-example shapes of the inputs.</summary>
    public IReadOnlyList<long[]> InputShapes => inputs.Select(i => i.Shape).ToArray();

    /// <summary>Per-example shapes of the outputs.</summary>
    public IReadOnlyList<long[]> OutputShapes => outputs.Select(o => o.Shape).ToArray();

    /// <inheritdoc/>
    public long[] OutputShape(long[] inputShape)
    {
        RequireSingle();
        if (!inputShape.SequenceEqual(inputs[0].Shape))
            throw new ShapeException($"Model '{Name}' was built for inputs {ShapeException.FormatBatch(inputs[0].Shape)}, not {ShapeException.FormatBatch(inputShape)}.");
        return outputs[0].Shape;
    }

    /// <summary>Fresh variables for every layer (the input shapes were fixed when the graph was built).</summary>
    public Variables Init(torch.Generator rng)
    {
        var parameters = new List<(string, TensorTree)>();
        var state = new List<(string, TensorTree)>();
        foreach (var (name, layer, shape) in layers)
        {
            var v = layer.Init(rng, shape);
            parameters.Add((name, v.Params));
            state.Add((name, v.State));
        }
        return new Variables(TensorTree.Node([.. parameters]), TensorTree.Node([.. state]));
    }

    /// <inheritdoc/>
    public Variables Init(torch.Generator rng, long[] inputShape)
    {
        OutputShape(inputShape);
        return Init(rng);
    }

    /// <inheritdoc/>
    public (Tensor Output, TensorTree State) Apply(Variables variables, Tensor input, ApplyContext context)
    {
        RequireSingle();
        var (results, state) = ApplyAll(variables, [input], context);
        return (results[0], state);
    }

    /// <summary>All outputs for batches of all inputs (in the order the model lists them), and the new state.</summary>
    public (Tensor[] Outputs, TensorTree State) ApplyAll(Variables variables, IReadOnlyList<Tensor> batch, ApplyContext context)
    {
        ArgumentNullException.ThrowIfNull(variables);
        if (batch.Count != inputs.Length)
            throw new ArgumentException($"Model '{Name}' takes {inputs.Length} input(s); got {batch.Count}.");
        var values = new Dictionary<GraphNode, Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < inputs.Length; i++)
        {
            if (batch[i].dim() != inputs[i].Shape.Length + 1 || !batch[i].shape[1..].SequenceEqual(inputs[i].Shape))
                throw new ShapeException(
                    $"Model '{Name}': {inputs[i].Node.Describe()} expects {ShapeException.FormatBatch(inputs[i].Shape)}, but received {ShapeException.Format(batch[i].shape)}.");
            values[inputs[i].Node] = batch[i];
        }
        var newState = new Dictionary<string, TensorTree>(StringComparer.Ordinal);
        // A shared layer's k-th call draws from its own key: "name", then "name#1", "name#2", ...
        var calls = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in order)
        {
            switch (node)
            {
                case LayerNode l:
                    var name = names[l.Layer];
                    var own = new Variables(variables.Params.Select(name), newState.GetValueOrDefault(name) ?? variables.State.Select(name));
                    int call = calls.GetValueOrDefault(name);
                    calls[name] = call + 1;
                    (values[node], newState[name]) = LayerCall.Apply(l.Layer, own, values[l.Input.Node],
                        context.For(call == 0 ? name : $"{name}#{call}"), call == 0 ? name : $"{name}_call{call + 1}");
                    break;
                case MergeNode { Kind: "add" } m:
                    values[node] = m.Parts.Skip(1).Aggregate(values[m.Parts[0].Node], (sum, p) => sum + values[p.Node]);
                    break;
                case MergeNode m:
                    values[node] = torch.cat(m.Parts.Select(p => values[p.Node]).ToArray(), m.Axis + 1);
                    break;
            }
        }
        var state = TensorTree.Node([.. layers.Select(l => (l.Name, newState.GetValueOrDefault(l.Name) ?? variables.State.Select(l.Name)))]);
        return ([.. outputs.Select(o => values[o.Node])], state);
    }

    /// <summary>Keras's summary table: a row per input, layer call and merge, in evaluation order
    /// (a shared layer's parameters are counted at its first call).</summary>
    public string Summary() => SummaryTable.Of(this, InputShapes);

    void RequireSingle()
    {
        if (inputs.Length != 1 || outputs.Length != 1)
            throw new InvalidOperationException(
                $"Model '{Name}' has {inputs.Length} inputs and {outputs.Length} outputs; use ApplyAll (ILayer's Apply is for one of each).");
    }
}
