using Functional.Layers;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Export;

/// <summary>
/// An ONNX graph under construction, as plain data: layers add nodes and constants through it,
/// values get unique names, constants are copied out of their tensors as they are added. The
/// package Functional.Onnx writes it as an ONNX model (<c>OnnxExport</c>); <see cref="Build"/>
/// lowers a whole network.
/// </summary>
public sealed class OnnxGraph
{
    int counter;
    readonly List<OnnxNode> nodes = [];
    readonly List<OnnxConstant> constants = [];

    /// <summary>An empty graph called <paramref name="name"/>.</summary>
    public OnnxGraph(string name) => Name = name;

    /// <summary>The graph's name.</summary>
    public string Name { get; }

    /// <summary>The nodes added so far, in evaluation order.</summary>
    public IReadOnlyList<OnnxNode> NodeList => nodes;

    /// <summary>The constants added so far.</summary>
    public IReadOnlyList<OnnxConstant> Constants => constants;

    /// <summary>The graph's input ("input", set by <see cref="Build"/>).</summary>
    public OnnxValue? Input { get; private set; }

    /// <summary>The graph's output ("output", set by <see cref="Build"/>).</summary>
    public OnnxValue? Output { get; private set; }

    /// <summary>
    /// Lowers <paramref name="network"/> with its <paramref name="variables"/>, in inference mode,
    /// for inputs of per-example shape <paramref name="inputShape"/>: input "input" (int64 ids
    /// where the network starts with an embedding, else float32), output "output". One walk over
    /// the network's layer calls; each layer lowers itself (<see cref="IOnnxExportable"/>).
    /// </summary>
    /// <exception cref="NotSupportedException">A layer or merge without an ONNX form, or a model
    /// with more than one input or output (the message names it).</exception>
    public static OnnxGraph Build(ILayer network, long[] inputShape, Variables variables)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentNullException.ThrowIfNull(variables);
        if (network is FunctionalModel f && (f.InputShapes.Count != 1 || f.OutputShapes.Count != 1))
            throw new NotSupportedException(
                $"Model '{f.Name}' has {f.InputShapes.Count} inputs and {f.OutputShapes.Count} outputs; ONNX export takes one of each.");
        // Constants built while walking the layers are copied out; the scope frees them.
        using var scope = torch.NewDisposeScope();
        var graph = new OnnxGraph(network.Name);
        var last = graph.Lower(network, "input", inputShape, variables);
        if (last == "input") last = graph.Node("Identity", "identity", ["input"]);
        graph.RenameLast(last, "output");
        graph.Input = new OnnxValue("input", TakesIds(network, inputShape), inputShape);
        graph.Output = new OnnxValue("output", false, network.OutputShape(inputShape));
        return graph;
    }

    /// <summary>A name not used before, starting with <paramref name="hint"/>.</summary>
    public string Fresh(string hint) => $"{hint}_{counter++}";

    /// <summary>Adds a node with one output; the output's name.</summary>
    public string Node(string op, string hint, IEnumerable<string> inputs, params OnnxAttribute[] attributes) =>
        Nodes(op, hint, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> outputs (Split, say); their names.</summary>
    public string[] Nodes(string op, string hint, IEnumerable<string> inputs, int outputs, params OnnxAttribute[] attributes)
    {
        var names = Enumerable.Range(0, outputs).Select(_ => Fresh(hint)).ToArray();
        nodes.Add(new OnnxNode(op, names[0], [.. inputs], names, attributes));
        return names;
    }

    /// <summary>Adds a constant (float32, or int64 for integer tensors); its name.</summary>
    public string Constant(string hint, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var name = Fresh(hint);
        bool integer = value.dtype == ScalarType.Int64;
        using var data = value.detach().cpu().to_type(integer ? ScalarType.Int64 : ScalarType.Float32).contiguous();
        constants.Add(new OnnxConstant(name, integer, data.shape, data.numel() == 0 ? [] : data.bytes.ToArray()));
        return name;
    }

    /// <summary>Adds a 1-D int64 constant (shapes, axes, indices).</summary>
    public string Constant(string hint, params long[] values)
    {
        using var t = torch.tensor(values);
        return Constant(hint, t);
    }

    /// <summary>Adds a float32 scalar constant.</summary>
    public string Scalar(string hint, float value)
    {
        using var t = torch.tensor(value);
        return Constant(hint, t);
    }

    /// <summary>The activation applied to <paramref name="x"/>.</summary>
    /// <exception cref="NotSupportedException">An activation without an ONNX form (the message names it).</exception>
    public string Activation(ActivationFunction f, string x) => f.Name switch
    {
        "linear" => x,
        "relu" => Node("Relu", "relu", [x]),
        "tanh" => Node("Tanh", "tanh", [x]),
        "sigmoid" => Node("Sigmoid", "sigmoid", [x]),
        "softmax" => Node("Softmax", "softmax", [x], Int("axis", -1)),
        "log_softmax" => Node("LogSoftmax", "log_softmax", [x], Int("axis", -1)),
        "silu" => Node("Mul", "silu", [x, Node("Sigmoid", "sigmoid", [x])]),
        // gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact form libtorch computes.
        "gelu" => Node("Mul", "gelu", [Node("Mul", "gelu", [x, Scalar("half", 0.5f)]),
            Node("Add", "gelu", [Node("Erf", "gelu", [Node("Div", "gelu", [x, Scalar("sqrt2", (float)Math.Sqrt(2))])]), Scalar("one", 1f)])]),
        _ => throw new NotSupportedException($"Activation '{f.Name}' cannot be exported to ONNX."),
    };

    /// <summary><c>x W + b</c> over the last axis, for a layer's kernel and bias.</summary>
    public string Affine(string hint, string x, Tensor kernel, Tensor? bias)
    {
        var y = Node("MatMul", hint, [x, Constant("kernel", kernel)]);
        return bias is null ? y : Node("Add", hint, [y, Constant("bias", bias)]);
    }

    /// <summary>Lowers another layer (a wrapped or nested one) with its own variables, seeing
    /// through composites as the export does.</summary>
    public string Lower(ILayer layer, string input, long[] inputShape, Variables variables) =>
        NetworkWalk.Visit(layer, new Lowering(this, variables), input, inputShape);

    /// <summary>An integer attribute.</summary>
    public static OnnxAttribute Int(string name, long value) => new(name, OnnxAttributeKind.Int, Integer: value);

    /// <summary>A float attribute.</summary>
    public static OnnxAttribute Float(string name, double value) => new(name, OnnxAttributeKind.Float, Real: (float)value);

    /// <summary>A string attribute.</summary>
    public static OnnxAttribute Text(string name, string value) => new(name, OnnxAttributeKind.Text, String: value);

    /// <summary>A list-of-integers attribute.</summary>
    public static OnnxAttribute Ints(string name, IEnumerable<long> values) => new(name, OnnxAttributeKind.Ints, Integers: [.. values]);

    /// <summary>Renames the value <paramref name="from"/> (the graph's last output) to <paramref name="to"/> wherever it appears.</summary>
    void RenameLast(string from, string to)
    {
        string Rename(string value) => value == from ? to : value;
        for (int i = 0; i < nodes.Count; i++)
            nodes[i] = nodes[i] with { Inputs = [.. nodes[i].Inputs.Select(Rename)], Outputs = [.. nodes[i].Outputs.Select(Rename)] };
    }

    /// <summary>Whether the network's first layer call takes integer ids (an embedding).</summary>
    static bool TakesIds(ILayer network, long[] inputShape) => NetworkWalk.Visit(network, new FirstLayer(), null, inputShape)?.TakesIds == true;

    /// <summary>Finds the first layer call of a walk.</summary>
    sealed class FirstLayer : ILayerVisitor<FirstLayer.Found?>
    {
        public sealed record Found(bool TakesIds);

        public Found? Layer(ILayer layer, Found? input, long[] inputShape, string path) =>
            input ?? new Found(layer is Layers.Layer { TakesIds: true });

        public Found? Merge(string kind, int axis, IReadOnlyList<Found?> parts, IReadOnlyList<long[]> shapes, string path) => parts[0];
    }

    /// <summary>The walk's visitor: each layer call lowers itself with the variables under its path.</summary>
    sealed class Lowering(OnnxGraph graph, Variables root) : ILayerVisitor<string>
    {
        public string Layer(ILayer layer, string input, long[] inputShape, string path)
        {
            var own = path.Length == 0 ? root : new Variables(root.Params.Select(path), root.State.Select(path));
            return layer is IOnnxExportable exportable ? exportable.ToOnnx(graph, input, inputShape, own)
                : throw new NotSupportedException(
                    $"Layer '{NetworkWalk.Label(layer, path)}' ({LayerRegistry.KindOf(layer)}) cannot be exported to ONNX yet.");
        }

        public string Merge(string kind, int axis, IReadOnlyList<string> parts, IReadOnlyList<long[]> shapes, string path) => kind switch
        {
            "add" => parts.Skip(1).Aggregate(parts[0], (sum, p) => graph.Node("Add", "add", [sum, p])),
            "concatenate" => graph.Node("Concat", "concatenate", parts, Int("axis", axis + 1)),
            _ => throw new NotSupportedException($"Merge '{kind}' cannot be exported to ONNX."),
        };
    }
}
