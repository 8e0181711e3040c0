using Functional.Layers;
using Functional.Trees;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Export;

/// <summary>
/// An ONNX graph under construction: layers add nodes and constants through it, values get
/// unique names. Constants are copied into the protobuf as they are added.
/// </summary>
public sealed class OnnxGraph
{
    int counter;

    internal OnnxGraph(string name) => Graph = new GraphProto { Name = name };

    internal GraphProto Graph { get; }

    /// <summary>A name not used before, starting with <paramref name="hint"/>.</summary>
    public string Fresh(string hint) => $"{hint}_{counter++}";

    /// <summary>Adds a node with one output; the output's name.</summary>
    public string Node(string op, string hint, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Nodes(op, hint, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> outputs (Split, say); their names.</summary>
    public string[] Nodes(string op, string hint, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var names = Enumerable.Range(0, outputs).Select(_ => Fresh(hint)).ToArray();
        var node = new NodeProto { OpType = op, Name = names[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return names;
    }

    /// <summary>Adds a constant (float32, or int64 for integer tensors); its name.</summary>
    public string Constant(string hint, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var name = Fresh(hint);
        bool integer = value.dtype == ScalarType.Int64;
        using var data = value.detach().cpu().to_type(integer ? ScalarType.Int64 : ScalarType.Float32).contiguous();
        var proto = new TensorProto
        {
            Name = name,
            DataType = (int)(integer ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float),
            RawData = ByteString.CopyFrom(data.numel() == 0 ? [] : data.bytes.ToArray()),
        };
        proto.Dims.AddRange(data.shape);
        Graph.Initializer.Add(proto);
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
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, double value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = (float)value };

    /// <summary>A string attribute.</summary>
    public static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A list-of-integers attribute.</summary>
    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>The walk's visitor: each layer call lowers itself with the variables under its path.</summary>
    internal sealed class Lowering(OnnxGraph graph, Variables root) : ILayerVisitor<string>
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
