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
    // While a quantized layer lowers its inner layer: the integer forms of its float constants
    // (by tensor identity), and whether products quantize their inputs as they arrive.
    Dictionary<Tensor, QuantizedConstant>? quantized;
    QuantizedInputs inputs;

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

    /// <summary>Adds a constant; its name. int64, int32, int8 and uint8 tensors keep their type,
    /// any other is written as float32. Inside <see cref="Quantizing"/>, a float constant with an
    /// integer form is written as that form and a DequantizeLinear, whose output's name this returns.</summary>
    public string Constant(string hint, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (quantized is not null && quantized.TryGetValue(value, out var q)) return Dequantized(hint, q);
        var name = Fresh(hint);
        var (dtype, type) = value.dtype switch
        {
            ScalarType.Int64 => (ScalarType.Int64, OnnxElementType.Int64),
            ScalarType.Int32 => (ScalarType.Int32, OnnxElementType.Int32),
            ScalarType.Int8 => (ScalarType.Int8, OnnxElementType.Int8),
            ScalarType.Byte => (ScalarType.Byte, OnnxElementType.UInt8),
            _ => (ScalarType.Float32, OnnxElementType.Float),
        };
        using var data = value.detach().cpu().to_type(dtype).contiguous();
        constants.Add(new OnnxConstant(name, type, data.shape, data.numel() == 0 ? [] : data.bytes.ToArray()));
        return name;
    }

    /// <summary>An integer constant and the DequantizeLinear that turns it back to float32; the latter's name.</summary>
    string Dequantized(string hint, QuantizedConstant q)
    {
        // The zero point is written even when it is 0: ONNX Runtime's fusions read its type from it.
        using var zeroPoint = q.ZeroPoint is null ? torch.zeros_like(q.Scale, dtype: q.Values.dtype) : null;
        string[] inputs = [Constant(hint + "_q", q.Values), Constant(hint + "_scale", q.Scale), Constant(hint + "_zero_point", q.ZeroPoint ?? zeroPoint!)];
        return q.Axis is { } axis ? Node("DequantizeLinear", hint, inputs, Int("axis", axis)) : Node("DequantizeLinear", hint, inputs);
    }

    /// <summary>
    /// Lowers what follows with integer forms of some float constants (a quantized layer lowering
    /// the layer it wraps): each <paramref name="constants"/> pair names a float tensor the inner
    /// layer will pass to <see cref="Constant(string, Tensor)"/> or <see cref="Affine"/> and its
    /// integer form; <paramref name="inputs"/> says what the products' inputs are (see
    /// <see cref="Affine"/>). Dispose the result to end it.
    /// </summary>
    public IDisposable Quantizing(IEnumerable<(Tensor Float, QuantizedConstant Integer)> constants, QuantizedInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(constants);
        if (quantized is not null) throw new InvalidOperationException("A quantized lowering is already under way: quantized layers do not nest.");
        quantized = new Dictionary<Tensor, QuantizedConstant>(ReferenceEqualityComparer.Instance);
        foreach (var (value, integer) in constants) quantized[value] = integer;
        this.inputs = inputs;
        return new Scope(this);
    }

    sealed class Scope(OnnxGraph graph) : IDisposable
    {
        public void Dispose() => (graph.quantized, graph.inputs) = (null, QuantizedInputs.Float);
    }

    /// <summary>QuantizeLinear to uint8 then DequantizeLinear, with a scalar
    /// <paramref name="scale"/> and <paramref name="zeroPoint"/>: where a value is rounded to
    /// what an integer kernel computes with; the dequantized value's name.</summary>
    public string QuantizeDequantize(string x, Tensor scale, Tensor zeroPoint)
    {
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(zeroPoint);
        using var z = zeroPoint.to_type(ScalarType.Byte);
        var (s, zp) = (Constant("scale", scale), Constant("zero_point", z));
        return Node("DequantizeLinear", "dequantize", [Node("QuantizeLinear", "quantize", [x, s, zp]), s, zp]);
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

    /// <summary><c>x W + b</c> over the last axis, for a layer's kernel and bias;
    /// <paramref name="matrix"/>: x is known to be a (batch, features) matrix. Quantized (see
    /// <see cref="Quantizing"/>): with quantized inputs a matrix product is a Gemm on dequantized
    /// operands, which ONNX Runtime runs as one integer QGemm; with dynamic inputs, the chain it
    /// fuses into DynamicQuantizeMatMul; with float inputs, a product with the dequantized kernel.</summary>
    public string Affine(string hint, string x, Tensor kernel, Tensor? bias, bool matrix = false)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (quantized is not null && quantized.TryGetValue(kernel, out var q))
        {
            if (inputs == QuantizedInputs.Dynamic) return DynamicAffine(hint, x, q, bias);
            if (inputs == QuantizedInputs.Static && matrix)
                return Node("Gemm", hint, bias is null ? [x, Constant("kernel", kernel)] : [x, Constant("kernel", kernel), Constant("bias", bias)]);
        }
        var y = Node("MatMul", hint, [x, Constant("kernel", kernel)]);
        return bias is null ? y : Node("Add", hint, [y, Constant("bias", bias)]);
    }

    /// <summary>x W + b with x quantized to uint8 as it arrives and W int8 (zero point 0):
    /// DynamicQuantizeLinear, MatMulInteger, and the product of the two scales.</summary>
    string DynamicAffine(string hint, string x, QuantizedConstant kernel, Tensor? bias)
    {
        var parts = Nodes("DynamicQuantizeLinear", hint + "_input", [x], 3);
        using var zeroPoint = torch.zeros_like(kernel.Scale, dtype: ScalarType.Int8);
        var product = Node("MatMulInteger", hint, [parts[0], Constant("kernel_q", kernel.Values), parts[2], Constant("kernel_zero_point", zeroPoint)]);
        var scale = Node("Mul", hint + "_scale", [parts[1], Constant("kernel_scale", kernel.Scale)]);
        var y = Node("Mul", hint, [Node("Cast", hint, [product], Int("to", 1)), scale]);
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
