namespace Functional.Export;

/// <summary>The kinds of ONNX node attribute the built-in lowerings use.</summary>
public enum OnnxAttributeKind
{
    /// <summary>One 64-bit integer.</summary>
    Int,

    /// <summary>One 32-bit float.</summary>
    Float,

    /// <summary>A UTF-8 string.</summary>
    Text,

    /// <summary>A list of 64-bit integers.</summary>
    Ints,
}

/// <summary>A node attribute as plain data: the ONNX writer (package Functional.Onnx) turns it
/// into the protobuf form.</summary>
/// <param name="Name">The attribute's name, as the operator's specification spells it.</param>
/// <param name="Kind">Which of the value fields holds the value.</param>
/// <param name="Integer">The value of an <see cref="OnnxAttributeKind.Int"/> attribute.</param>
/// <param name="Real">The value of an <see cref="OnnxAttributeKind.Float"/> attribute.</param>
/// <param name="String">The value of a <see cref="OnnxAttributeKind.Text"/> attribute.</param>
/// <param name="Integers">The values of an <see cref="OnnxAttributeKind.Ints"/> attribute.</param>
public sealed record OnnxAttribute(string Name, OnnxAttributeKind Kind, long Integer = 0, float Real = 0, string String = "", IReadOnlyList<long>? Integers = null);

/// <summary>One operator call of an ONNX graph.</summary>
/// <param name="OpType">The operator (opset 17 of the default domain).</param>
/// <param name="Name">The node's name (its first output's).</param>
/// <param name="Inputs">The names of the values it reads.</param>
/// <param name="Outputs">The names of the values it writes.</param>
/// <param name="Attributes">Its attributes.</param>
public sealed record OnnxNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, IReadOnlyList<OnnxAttribute> Attributes);

/// <summary>The element types of the constants the lowerings write (ONNX's names).</summary>
public enum OnnxElementType
{
    /// <summary>32-bit floats.</summary>
    Float,
    /// <summary>64-bit integers (shapes, axes, ids).</summary>
    Int64,
    /// <summary>32-bit integers (quantized biases).</summary>
    Int32,
    /// <summary>Signed bytes (quantized weights).</summary>
    Int8,
    /// <summary>Unsigned bytes (quantized activations' zero points).</summary>
    UInt8,
}

/// <summary>A constant (initializer) of an ONNX graph: values row-major, little-endian.</summary>
/// <param name="Name">The value's name.</param>
/// <param name="Type">The element type.</param>
/// <param name="Dims">The shape.</param>
/// <param name="Data">The values' bytes.</param>
public sealed record OnnxConstant(string Name, OnnxElementType Type, long[] Dims, byte[] Data);

/// <summary>What the inputs of a quantized layer's products are (<see cref="OnnxGraph.Quantizing"/>).</summary>
public enum QuantizedInputs
{
    /// <summary>Float: only the weights are integers (dequantized in the graph).</summary>
    Float,
    /// <summary>Quantized as they arrive (DynamicQuantizeLinear).</summary>
    Dynamic,
    /// <summary>Quantized and dequantized before the product, with calibrated parameters.</summary>
    Static,
}

/// <summary>
/// The integer form of a float constant, for quantized layers (<see cref="OnnxGraph.Quantizing"/>):
/// <c>float = (Values - ZeroPoint) * Scale</c>, the parameters per slice along
/// <see cref="Axis"/> when 1-D.
/// </summary>
/// <param name="Values">int8 weights or int32 biases.</param>
/// <param name="Scale">float32, a scalar or one per slice.</param>
/// <param name="ZeroPoint">Of the values' dtype, shaped as the scale; null: 0.</param>
/// <param name="Axis">The axis of per-slice parameters; null when they are scalars.</param>
public sealed record QuantizedConstant(TorchSharp.torch.Tensor Values, TorchSharp.torch.Tensor Scale, TorchSharp.torch.Tensor? ZeroPoint, int? Axis);

/// <summary>A graph input or output: its name, element type and per-example shape (the batch
/// dimension, first, is dynamic and named "batch").</summary>
/// <param name="Name">The value's name.</param>
/// <param name="IsInt64">Whether it holds int64 ids (else float32).</param>
/// <param name="PerExampleShape">The shape after the batch dimension.</param>
public sealed record OnnxValue(string Name, bool IsInt64, long[] PerExampleShape);
