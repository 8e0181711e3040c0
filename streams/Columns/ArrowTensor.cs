using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams.Columns;

/// <summary>
/// Arrow columns become TorchSharp tensors at the edge of a pipeline, with exactly one copy
/// (Arrow's buffer into the tensor's storage). The dtype mapping:
/// <list type="table">
/// <listheader><term>Arrow type</term><description>tensor</description></listheader>
/// <item><term>float / double / half-float</term><description>float32 / float64 / float16</description></item>
/// <item><term>int8 / int16 / int32 / int64</term><description>int8 / int16 / int32 / int64</description></item>
/// <item><term>uint8</term><description>uint8</description></item>
/// <item><term>boolean (bit-packed)</term><description>bool (unpacked while copying)</description></item>
/// <item><term>fixed-size list of any of these, nested</term><description>one more dimension per list level: [rows, n1, n2, ...]</description></item>
/// </list>
/// Other types (strings, variable-size lists, unsigned 16/32/64-bit, dates) and columns with
/// nulls are rejected with an exception that names the column: convert them first.
/// </summary>
public static class ArrowTensor
{
    /// <summary>The column <paramref name="columnName"/> of <paramref name="batch"/> as a tensor.</summary>
    /// <exception cref="ArgumentException">The batch has no such column (the message lists its columns).</exception>
    /// <exception cref="NotSupportedException">The column's type has no tensor dtype, or it holds nulls.</exception>
    public static Tensor FromColumn(RecordBatch batch, string columnName)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int index = batch.Schema.GetFieldIndex(columnName);
        if (index < 0)
            throw new ArgumentException(
                $"The record batch has no column '{columnName}'; its columns are {string.Join(", ", batch.Schema.FieldsList.Select(f => $"'{f.Name}'"))}.",
                nameof(columnName));
        return FromArray(batch.Column(index), columnName);
    }

    /// <summary>An Arrow array as a tensor of shape [length, list sizes...].</summary>
    /// <param name="array">A primitive, boolean or fixed-size-list array without nulls.</param>
    /// <param name="columnName">Names the column in error messages.</param>
    public static Tensor FromArray(IArrowArray array, string columnName = "column")
    {
        ArgumentNullException.ThrowIfNull(array);
        var shape = new List<long> { array.Length };
        long start = array.Offset, count = array.Length;
        var values = array;
        // Each fixed-size-list level adds a dimension and scales the range into its child.
        while (values is FixedSizeListArray list)
        {
            RequireNoNulls(list, columnName);
            int size = ((FixedSizeListType)list.Data.DataType).ListSize;
            shape.Add(size);
            start *= size;
            count *= size;
            values = list.Values;
            start += values.Offset;
        }
        RequireNoNulls(values, columnName);
        var dims = shape.ToArray();
        int from = checked((int)(start - values.Offset)), length = checked((int)count);
        return values switch
        {
            FloatArray a => Copy(a, from, length, dims, ScalarType.Float32),
            DoubleArray a => Copy(a, from, length, dims, ScalarType.Float64),
            HalfFloatArray a => Copy(a, from, length, dims, ScalarType.Float16),
            Int8Array a => Copy(a, from, length, dims, ScalarType.Int8),
            Int16Array a => Copy(a, from, length, dims, ScalarType.Int16),
            Int32Array a => Copy(a, from, length, dims, ScalarType.Int32),
            Int64Array a => Copy(a, from, length, dims, ScalarType.Int64),
            UInt8Array a => Copy(a, from, length, dims, ScalarType.Byte),
            BooleanArray a => CopyBooleans(a, from, length, dims),
            _ => throw new NotSupportedException(
                $"Column '{columnName}' has Arrow type {values.Data.DataType.Name}, which has no tensor dtype; " +
                "supported: float, double, half-float, int8/16/32/64, uint8, boolean and fixed-size lists of them."),
        };
    }

    static Tensor Copy<T>(PrimitiveArray<T> array, int from, int length, long[] shape, ScalarType dtype)
        where T : struct, IEquatable<T>
    {
        // Values is already offset by the array's own slice; `from` counts from its start.
        var source = MemoryMarshal.AsBytes(array.Values.Slice(from, length));
        var tensor = torch.empty(shape, dtype);
        source.CopyTo(tensor.bytes);
        return tensor;
    }

    static Tensor CopyBooleans(BooleanArray array, int from, int length, long[] shape)
    {
        var tensor = torch.empty(shape, ScalarType.Bool);
        var target = tensor.bytes;
        for (int i = 0; i < length; i++) target[i] = array.GetValue(from + i) == true ? (byte)1 : (byte)0;
        return tensor;
    }

    static void RequireNoNulls(IArrowArray array, string columnName)
    {
        if (array.NullCount > 0)
            throw new NotSupportedException(
                $"Column '{columnName}' has {array.NullCount} null value(s); fill or filter them before making a tensor.");
    }
}
