using Functional.Layers;
using Functional.Persistence;
using Functional.Training;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Export;

/// <summary>
/// Exports a network with its variables to ONNX (opset 17), in inference mode, with a dynamic
/// batch dimension: input "input" of shape (batch, per-example shape...), output "output".
/// One walk over the network's layer calls: each layer lowers itself (<see cref="IOnnxExportable"/>:
/// every built-in layer, Sequential, Residual and functional graphs with one input and one
/// output); a network starting with an embedding takes int64 ids. Any other layer is a
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

    /// <summary>Writes a trained model's network, with its current weights, to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ModelProto? proto = null;
        model.ReadState(state => proto = ToModel(model.Network, model.InputShape, new Variables(state.Params, state.ModelState)));
        var bytes = proto!.ToByteArray();
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The ONNX model as a protobuf message.</summary>
    public static ModelProto ToModel(ILayer network, long[] inputShape, Variables variables)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(variables);
        // Constants built while walking the layers are copied into the protobuf; the scope frees them.
        using var scope = torch.NewDisposeScope();
        if (network is FunctionalModel f && (f.InputShapes.Count != 1 || f.OutputShapes.Count != 1))
            throw new NotSupportedException(
                $"Model '{f.Name}' has {f.InputShapes.Count} inputs and {f.OutputShapes.Count} outputs; ONNX export takes one of each.");
        var builder = new OnnxGraph(network.Name);
        var output = NetworkWalk.Visit(network, new OnnxGraph.Lowering(builder, variables), "input", inputShape);
        var graph = builder.Graph;
        graph.Input.Add(ValueInfo("input", inputShape, TakesIds(network, inputShape) ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float));
        graph.Output.Add(ValueInfo(Rename(builder, output, "output"), network.OutputShape(inputShape), TensorProto.Types.DataType.Float));
        var model = new ModelProto { IrVersion = 8, ProducerName = "Functional", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
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

    /// <summary>Renames the value <paramref name="from"/> (the graph's last output) to <paramref name="to"/>.</summary>
    static string Rename(OnnxGraph graph, string from, string to)
    {
        if (from == "input") from = graph.Node("Identity", "identity", ["input"]);
        foreach (var node in graph.Graph.Node)
        {
            for (int i = 0; i < node.Output.Count; i++)
                if (node.Output[i] == from) node.Output[i] = to;
            for (int i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == from) node.Input[i] = to;
        }
        return to;
    }
}
