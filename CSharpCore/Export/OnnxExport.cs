using Functional.Layers;
using Functional.Persistence;
using Functional.Trees;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Export;

/// <summary>
/// Exports a network with its variables to ONNX (opset 17), in inference mode, with a dynamic
/// batch dimension: input "input" of shape (batch, per-example shape...), output "output".
/// Dense, Conv1D/2D, pooling (1-D, 2-D, global), Flatten, Reshape, Dropout (the identity),
/// BatchNorm (running statistics), LayerNorm, Embedding (the input is then int64 ids), multi-head
/// self-attention, LSTM and GRU (unrolled over
/// the fixed sequence length), the built-in activations, Residual, Sequential and functional graphs
/// (one input, one output) export; any other layer is a
/// <see cref="NotSupportedException"/> naming it.
/// </summary>
public static class OnnxExport
{
    const long Opset = 17;

    /// <summary>Writes the ONNX model to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, ILayer network, long[] inputShape, Variables variables)
    {
        var model = ToModel(network, inputShape, variables);
        var bytes = model.ToByteArray();
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The ONNX model as a protobuf message.</summary>
    public static ModelProto ToModel(ILayer network, long[] inputShape, Variables variables)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(variables);
        // Constants built while walking the layers are copied into the protobuf; the scope frees them.
        using var scope = torch.NewDisposeScope();
        var builder = new GraphBuilder(network.Name);
        var output = builder.Layer(network, "input", inputShape, variables, "");
        var graph = builder.Graph;
        graph.Input.Add(ValueInfo("input", inputShape, TakesIds(network) ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float));
        graph.Output.Add(ValueInfo(builder.Rename(output, "output"), network.OutputShape(inputShape), TensorProto.Types.DataType.Float));
        var model = new ModelProto { IrVersion = 8, ProducerName = "Functional", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    /// <summary>Whether the network starts with an embedding, so its input is integer ids.</summary>
    static bool TakesIds(ILayer network) => network switch
    {
        Embedding => true,
        Sequential s => TakesIds(s.Layers[0].Layer),
        _ => false,
    };

    static ValueInfoProto ValueInfo(string name, long[] perExample, TensorProto.Types.DataType type)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        foreach (var d in perExample) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>Builds the graph node by node, naming values uniquely.</summary>
    sealed class GraphBuilder(string name)
    {
        int counter;
        public GraphProto Graph { get; } = new() { Name = name };

        string Fresh(string hint) => $"{hint}_{counter++}";

        string Node(string op, string hint, IEnumerable<string> inputs, params AttributeProto[] attributes)
        {
            var output = Fresh(hint);
            var node = new NodeProto { OpType = op, Name = output };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            node.Attribute.AddRange(attributes);
            Graph.Node.Add(node);
            return output;
        }

        /// <summary>Renames the value <paramref name="from"/> (the graph's last output) to <paramref name="to"/>.</summary>
        public string Rename(string from, string to)
        {
            if (from == "input") from = Node("Identity", "identity", ["input"]);
            foreach (var node in Graph.Node)
                for (int i = 0; i < node.Output.Count; i++)
                    if (node.Output[i] == from) node.Output[i] = to;
            foreach (var node in Graph.Node)
                for (int i = 0; i < node.Input.Count; i++)
                    if (node.Input[i] == from) node.Input[i] = to;
            return to;
        }

        string Constant(string hint, Tensor value)
        {
            var name = Fresh(hint);
            using var data = value.detach().cpu().to_type(value.dtype == ScalarType.Int64 ? ScalarType.Int64 : ScalarType.Float32).contiguous();
            var proto = new TensorProto
            {
                Name = name,
                DataType = (int)(data.dtype == ScalarType.Int64 ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float),
                RawData = ByteString.CopyFrom(data.numel() == 0 ? [] : data.bytes.ToArray()),
            };
            proto.Dims.AddRange(data.shape);
            Graph.Initializer.Add(proto);
            return name;
        }

        static AttributeProto Ints(string name, IEnumerable<long> values)
        {
            var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
            a.Ints.AddRange(values);
            return a;
        }

        static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

        static AttributeProto Float(string name, double value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = (float)value };

        public string Layer(ILayer layer, string x, long[] shape, Variables v, string path)
        {
            var p = v.Params;
            switch (layer)
            {
                case Sequential s:
                    foreach (var (child, inner) in s.Layers)
                    {
                        x = Layer(inner, x, shape, new Variables(p.Select(child), v.State.Select(child)), TreePath.Join(path, child));
                        shape = inner.OutputShape(shape);
                    }
                    return x;
                case FunctionalModel f:
                    return Functional(f, x, v, path);
                case Residual r:
                    return Node("Add", "residual", [x, Layer(r.Inner, x, shape, v, path)]);
                case Dense d:
                    var y = Node("MatMul", "dense", [x, Constant("kernel", p["kernel"])]);
                    if (d.UseBias) y = Node("Add", "dense", [y, Constant("bias", p["bias"])]);
                    return Activation(d.Activation, y);
                case Convolution c:
                    var pads = c.KernelSize.Select(k => c.Padding == Layers.Padding.Same ? k / 2 : 0).ToArray();
                    string[] convInputs = c.UseBias ? [x, Constant("kernel", p["kernel"]), Constant("bias", p["bias"])] : [x, Constant("kernel", p["kernel"])];
                    var conv = Node("Conv", "conv", convInputs, Ints("kernel_shape", c.KernelSize), Ints("strides", c.Strides), Ints("pads", [.. pads, .. pads]));
                    return Activation(c.Activation, conv);
                case Pooling pool:
                    var padding = pool.PoolSize.Select(k => pool.Padding == Layers.Padding.Same ? k / 2 : 0).ToArray();
                    return pool.Reduction == PoolKind.Max
                        ? Node("MaxPool", "pool", [x], Ints("kernel_shape", pool.PoolSize), Ints("strides", pool.Strides), Ints("pads", [.. padding, .. padding]))
                        : Node("AveragePool", "pool", [x], Ints("kernel_shape", pool.PoolSize), Ints("strides", pool.Strides), Ints("pads", [.. padding, .. padding]), Int("count_include_pad", 0));
                case GlobalPool g:
                    return Node("Flatten", "flatten", [Node(g.Reduction == PoolKind.Max ? "GlobalMaxPool" : "GlobalAveragePool", "global_pool", [x])], Int("axis", 1));
                case Flatten:
                    return Node("Flatten", "flatten", [x], Int("axis", 1));
                case Reshape reshape:
                    return Node("Reshape", "reshape", [x, Constant("shape", torch.tensor([0L, .. reshape.OutputShape(shape)]))]);
                case Dropout:
                    return Node("Identity", "dropout", [x]);
                case BatchNorm b:
                    return Node("BatchNormalization", "batch_norm",
                        [x, Constant("scale", p["scale"]), Constant("offset", p["offset"]), Constant("mean", v.State["mean"]), Constant("variance", v.State["variance"])],
                        Float("epsilon", b.Epsilon));
                case LayerNorm n:
                    return Node("LayerNormalization", "layer_norm", [x, Constant("scale", p["scale"]), Constant("offset", p["offset"])],
                        Int("axis", -1), Float("epsilon", n.Epsilon));
                case Layers.Activation a:
                    return Activation(a.Function, x);
                case Embedding:
                    return Node("Gather", "embedding", [Constant("embeddings", p["embeddings"]), x], Int("axis", 0));
                case MultiHeadAttention m:
                    return Attention(m, x, shape, p);
                case Recurrent r:
                    return Recurrence(r, x, shape, p);
                default:
                    throw new NotSupportedException(
                        $"Layer '{(path.Length == 0 ? layer.Name : path)}' ({layer.GetType().Name}) cannot be exported to ONNX yet.");
            }
        }

        /// <summary>A functional model's nodes in order; one input and one output.</summary>
        string Functional(FunctionalModel model, string x, Variables v, string path)
        {
            if (model.Inputs.Count != 1 || model.Outputs.Count != 1)
                throw new NotSupportedException($"Model '{model.Name}' has {model.Inputs.Count} inputs and {model.Outputs.Count} outputs; ONNX export takes one of each.");
            var values = new Dictionary<GraphNode, string>(ReferenceEqualityComparer.Instance);
            foreach (var node in model.Nodes)
            {
                values[node] = node switch
                {
                    InputNode => x,
                    LayerNode l => Layer(l.Layer, values[l.Input.Node], l.Input.Shape,
                        new Variables(v.Params.Select(model.LayerName(l.Layer)), v.State.Select(model.LayerName(l.Layer))),
                        TreePath.Join(path, model.LayerName(l.Layer))),
                    MergeNode { Kind: "add" } m => m.Parts.Skip(1).Aggregate(values[m.Parts[0].Node], (sum, p) => Node("Add", "add", [sum, values[p.Node]])),
                    MergeNode m => Node("Concat", "concatenate", m.Parts.Select(p => values[p.Node]), Int("axis", m.Axis + 1)),
                    _ => throw new NotSupportedException($"Graph node {node.Describe()} cannot be exported."),
                };
            }
            return values[model.Outputs[0].Node];
        }

        /// <summary>Self-attention: projections, heads, scaled dot products (with the causal mask
        /// as a constant, the sequence length being fixed by the input shape), output projection.</summary>
        string Attention(MultiHeadAttention m, string x, long[] shape, TensorTree p)
        {
            long time = shape[0], heads = m.Heads, dim = m.KeyDim;
            string Heads(string projection, long[] perm)
            {
                var projected = Node("Add", projection, [Node("MatMul", projection, [x, Constant("kernel", p[projection + "/kernel"])]), Constant("bias", p[projection + "/bias"])]);
                var split = Node("Reshape", projection, [projected, Constant("shape", torch.tensor(new long[] { 0, 0, heads, dim }))]);
                return Node("Transpose", projection, [split], Ints("perm", perm));
            }
            var q = Heads("query", [0, 2, 1, 3]);
            var k = Heads("key", [0, 2, 3, 1]);
            var v = Heads("value", [0, 2, 1, 3]);
            var scores = Node("Div", "scores", [Node("MatMul", "scores", [q, k]), Constant("scale", torch.tensor((float)Math.Sqrt(dim)))]);
            if (m.Causal)
            {
                using var allowed = MultiHeadAttention.CausalMask(time);
                using var mask = torch.zeros(time, time).masked_fill(allowed.logical_not(), float.NegativeInfinity);
                scores = Node("Add", "causal", [scores, Constant("mask", mask)]);
            }
            var attended = Node("MatMul", "attend", [Node("Softmax", "weights", [scores], Int("axis", -1)), v]);
            var merged = Node("Reshape", "merge", [Node("Transpose", "merge", [attended], Ints("perm", [0, 2, 1, 3])),
                Constant("shape", torch.tensor(new long[] { 0, 0, heads * dim }))]);
            return Node("Add", "output", [Node("MatMul", "output", [merged, Constant("kernel", p["output/kernel"])]), Constant("bias", p["output/bias"])]);
        }

        /// <summary>An LSTM or GRU unrolled over its time steps (fixed by the input shape), from a
        /// zero state whose batch size comes from the input.</summary>
        string Recurrence(Recurrent r, string x, long[] shape, TensorTree p)
        {
            long time = shape[0], units = r.Units;
            bool lstm = r is Lstm;
            var projected = Node("Add", "projected", [Node("MatMul", "projected", [x, Constant("kernel", p["kernel"])]), Constant("bias", p["bias"])]);
            // Zeros of (batch, units), the batch size read from the input.
            var batch = Node("Gather", "batch", [Node("Shape", "shape", [x]), Constant("first", torch.tensor(new long[] { 0 }))], Int("axis", 0));
            var stateShape = Node("Concat", "state_shape", [batch, Constant("units", torch.tensor(new long[] { units }))], Int("axis", 0));
            var h = Node("ConstantOfShape", "zeros", [stateShape]);   // float32 zeros by default
            var c = h;
            var recurrent = Constant("recurrent_kernel", p["recurrent_kernel"]);
            var recurrentBias = lstm ? null : Constant("recurrent_bias", p["recurrent_bias"]);
            var sizes = Constant("sizes", torch.tensor(Enumerable.Repeat(units, lstm ? 4 : 3).ToArray()));
            var outputs = new List<string>();
            string[] Split(string value, int parts)
            {
                var names = Enumerable.Range(0, parts).Select(_ => Fresh("gate")).ToArray();
                var node = new NodeProto { OpType = "Split", Name = names[0] + "_split" };
                node.Input.Add(value);
                node.Input.Add(sizes);
                node.Output.AddRange(names);
                node.Attribute.Add(Int("axis", 1));
                Graph.Node.Add(node);
                return names;
            }
            for (long t = 0; t < time; t++)
            {
                var xt = Node("Gather", "step", [projected, Constant("t", torch.tensor(t))], Int("axis", 1));
                var hr = Node("MatMul", "recurrent", [h, recurrent]);
                if (lstm)
                {
                    var g = Split(Node("Add", "gates", [xt, hr]), 4);
                    var (i, f, cell, o) = (Node("Sigmoid", "i", [g[0]]), Node("Sigmoid", "f", [g[1]]), Node("Tanh", "g", [g[2]]), Node("Sigmoid", "o", [g[3]]));
                    c = Node("Add", "c", [Node("Mul", "c", [f, c]), Node("Mul", "c", [i, cell])]);
                    h = Node("Mul", "h", [o, Node("Tanh", "h", [c])]);
                }
                else
                {
                    var gx = Split(xt, 3);
                    var gh = Split(Node("Add", "recurrent", [hr, recurrentBias!]), 3);
                    var update = Node("Sigmoid", "z", [Node("Add", "z", [gx[0], gh[0]])]);
                    var reset = Node("Sigmoid", "r", [Node("Add", "r", [gx[1], gh[1]])]);
                    var candidate = Node("Tanh", "n", [Node("Add", "n", [gx[2], Node("Mul", "n", [reset, gh[2]])])]);
                    // h = z h + (1 - z) n = n + z (h - n)
                    h = Node("Add", "h", [candidate, Node("Mul", "h", [update, Node("Sub", "h", [h, candidate])])]);
                }
                if (r.ReturnSequences) outputs.Add(Node("Unsqueeze", "out", [h, Constant("axis", torch.tensor(new long[] { 1 }))]));
            }
            return r.ReturnSequences ? Node("Concat", "sequence", outputs, Int("axis", 1)) : h;
        }

        string Activation(ActivationFunction f, string x) => f.Name switch
        {
            "linear" => x,
            "relu" => Node("Relu", "relu", [x]),
            "tanh" => Node("Tanh", "tanh", [x]),
            "sigmoid" => Node("Sigmoid", "sigmoid", [x]),
            "softmax" => Node("Softmax", "softmax", [x], Int("axis", -1)),
            "log_softmax" => Node("LogSoftmax", "log_softmax", [x], Int("axis", -1)),
            "silu" => Node("Mul", "silu", [x, Node("Sigmoid", "sigmoid", [x])]),
            // gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact form libtorch computes.
            "gelu" => Node("Mul", "gelu", [Node("Mul", "gelu", [x, Constant("half", torch.tensor(0.5f))]),
                Node("Add", "gelu", [Node("Erf", "gelu", [Node("Div", "gelu", [x, Constant("sqrt2", torch.tensor((float)Math.Sqrt(2)))])]), Constant("one", torch.tensor(1f))])]),
            _ => throw new NotSupportedException($"Activation '{f.Name}' cannot be exported to ONNX."),
        };
    }
}
