using Functional.Layers;
using Functional.Persistence;
using Functional.Training;
using Google.Protobuf;
using Onnx;

namespace Functional.Export;

/// <summary>
/// Exports a network with its variables to ONNX (opset 17), in inference mode, with a dynamic
/// batch dimension: input "input" of shape (batch, per-example shape...), output "output".
/// The lowering is the core's (<see cref="OnnxGraph.Build"/>: every built-in layer, Sequential,
/// Residual and functional graphs with one input and one output; a network starting with an
/// embedding takes int64 ids); this writes it as an ONNX protobuf. Any other layer is a
/// <see cref="NotSupportedException"/> naming it.
/// </summary>
public static class OnnxExport
{
    const long Opset = 17;

    /// <summary>Writes the ONNX model to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, ILayer network, long[] inputShape, Variables variables)
    {
        var bytes = ToModel(network, inputShape, variables).ToByteArray();
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
    public static ModelProto ToModel(ILayer network, long[] inputShape, Variables variables) => ToModel(OnnxGraph.Build(network, inputShape, variables));

    /// <summary>A lowered graph (<see cref="OnnxGraph.Build"/>) as an ONNX model.</summary>
    public static ModelProto ToModel(OnnxGraph lowered)
    {
        ArgumentNullException.ThrowIfNull(lowered);
        if (lowered.Input is null || lowered.Output is null)
            throw new ArgumentException($"Graph '{lowered.Name}' has no input or output: build it with OnnxGraph.Build.", nameof(lowered));
        var graph = new GraphProto { Name = lowered.Name };
        graph.Node.AddRange(lowered.NodeList.Select(ToProto));
        graph.Initializer.AddRange(lowered.Constants.Select(ToProto));
        graph.Input.Add(ToProto(lowered.Input));
        graph.Output.Add(ToProto(lowered.Output));
        var model = new ModelProto { IrVersion = 8, ProducerName = "Functional", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    static NodeProto ToProto(OnnxNode node)
    {
        var proto = new NodeProto { OpType = node.OpType, Name = node.Name };
        proto.Input.AddRange(node.Inputs);
        proto.Output.AddRange(node.Outputs);
        proto.Attribute.AddRange(node.Attributes.Select(ToProto));
        return proto;
    }

    static AttributeProto ToProto(OnnxAttribute a)
    {
        var proto = new AttributeProto { Name = a.Name };
        switch (a.Kind)
        {
            case OnnxAttributeKind.Int: proto.Type = AttributeProto.Types.AttributeType.Int; proto.I = a.Integer; break;
            case OnnxAttributeKind.Float: proto.Type = AttributeProto.Types.AttributeType.Float; proto.F = a.Real; break;
            case OnnxAttributeKind.Text: proto.Type = AttributeProto.Types.AttributeType.String; proto.S = ByteString.CopyFromUtf8(a.String); break;
            case OnnxAttributeKind.Ints: proto.Type = AttributeProto.Types.AttributeType.Ints; proto.Ints.AddRange(a.Integers ?? []); break;
            default: throw new ArgumentOutOfRangeException(nameof(a), a.Kind, $"Attribute '{a.Name}' has an unknown kind.");
        }
        return proto;
    }

    static TensorProto ToProto(OnnxConstant c)
    {
        var proto = new TensorProto
        {
            Name = c.Name,
            DataType = (int)(c.Type switch
            {
                OnnxElementType.Int64 => TensorProto.Types.DataType.Int64,
                OnnxElementType.Int32 => TensorProto.Types.DataType.Int32,
                OnnxElementType.Int8 => TensorProto.Types.DataType.Int8,
                OnnxElementType.UInt8 => TensorProto.Types.DataType.Uint8,
                _ => TensorProto.Types.DataType.Float,
            }),
            RawData = ByteString.CopyFrom(c.Data),
        };
        proto.Dims.AddRange(c.Dims);
        return proto;
    }

    static ValueInfoProto ToProto(OnnxValue value)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        foreach (var d in value.PerExampleShape) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        var type = value.IsInt64 ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float;
        return new ValueInfoProto
        {
            Name = value.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
