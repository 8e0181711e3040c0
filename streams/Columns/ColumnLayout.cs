using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.Types;
using static TorchSharp.torch;

namespace Functional.Streams.Columns;

/// <summary>
/// A column seen as rows of fixed-width bytes: a primitive column, or fixed-size lists of one
/// nested to any depth. Row i is <see cref="RowBytes"/> bytes starting at i * RowBytes in
/// <see cref="Bytes"/>; each row becomes a tensor slice of shape <see cref="RowShape"/>.
/// Boolean columns (bit-packed in Arrow) are unpacked to one byte per value once.
/// </summary>
internal sealed class ColumnLayout
{
    ColumnLayout(ReadOnlyMemory<byte> bytes, int rowBytes, long[] rowShape, ScalarType dtype) =>
        (Bytes, RowBytes, RowShape, DType) = (bytes, rowBytes, rowShape, dtype);

    /// <summary>The rows' bytes, row 0 first.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    /// <summary>Bytes per row.</summary>
    public int RowBytes { get; }

    /// <summary>Shape of one row's values (empty for a primitive column).</summary>
    public long[] RowShape { get; }

    /// <summary>The tensor dtype of the values.</summary>
    public ScalarType DType { get; }

    /// <summary>Row <paramref name="index"/>'s bytes.</summary>
    public ReadOnlySpan<byte> RowSpan(int index) => Bytes.Span.Slice(index * RowBytes, RowBytes);

    /// <summary>Whether rows of this layout and <paramref name="other"/> can share a tensor.</summary>
    public bool SameShapeAs(ColumnLayout other) => DType == other.DType && RowShape.AsSpan().SequenceEqual(other.RowShape);

    /// <summary>"uint8[784]".</summary>
    public string Describe() => $"{DType.ToString().ToLowerInvariant()}[{string.Join(", ", RowShape)}]";

    /// <summary>The layout of <paramref name="array"/>.</summary>
    /// <exception cref="NotSupportedException">Its type has no tensor dtype, or it holds nulls (the message names <paramref name="columnName"/>).</exception>
    public static ColumnLayout Of(IArrowArray array, string columnName)
    {
        ArgumentNullException.ThrowIfNull(array);
        var rowShape = new List<long>();
        long start = array.Offset, perRow = 1;
        var values = array;
        // Each fixed-size-list level adds a dimension and scales the range into its child.
        while (values is FixedSizeListArray list)
        {
            RequireNoNulls(list, columnName);
            int size = ((FixedSizeListType)list.Data.DataType).ListSize;
            rowShape.Add(size);
            start *= size;
            perRow *= size;
            values = list.Values;
            start += values.Offset;
        }
        RequireNoNulls(values, columnName);
        int from = checked((int)(start - values.Offset)), count = checked((int)(perRow * array.Length)), width = checked((int)perRow);
        var shape = rowShape.ToArray();
        return values switch
        {
            FloatArray a => Primitive(a, from, count, width, shape, ScalarType.Float32),
            DoubleArray a => Primitive(a, from, count, width, shape, ScalarType.Float64),
            HalfFloatArray a => Primitive(a, from, count, width, shape, ScalarType.Float16),
            Int8Array a => Primitive(a, from, count, width, shape, ScalarType.Int8),
            Int16Array a => Primitive(a, from, count, width, shape, ScalarType.Int16),
            Int32Array a => Primitive(a, from, count, width, shape, ScalarType.Int32),
            Int64Array a => Primitive(a, from, count, width, shape, ScalarType.Int64),
            UInt8Array a => Primitive(a, from, count, width, shape, ScalarType.Byte),
            BooleanArray a => Booleans(a, from, count, width, shape),
            _ => throw new NotSupportedException(
                $"Column '{columnName}' has Arrow type {values.Data.DataType.Name}, which has no tensor dtype; " +
                "supported: float, double, half-float, int8/16/32/64, uint8, boolean and fixed-size lists of them."),
        };
    }

    static ColumnLayout Primitive<T>(PrimitiveArray<T> array, int from, int count, int width, long[] shape, ScalarType dtype)
        where T : struct, IEquatable<T>
    {
        int size = Marshal.SizeOf<T>();
        // ValueBuffer starts at the buffer's first value; the array's own offset is added here.
        var bytes = array.ValueBuffer.Memory.Slice((array.Offset + from) * size, count * size);
        return new ColumnLayout(bytes, width * size, shape, dtype);
    }

    static ColumnLayout Booleans(BooleanArray array, int from, int count, int width, long[] shape)
    {
        var unpacked = new byte[count];
        for (int i = 0; i < count; i++) unpacked[i] = array.GetValue(from + i) == true ? (byte)1 : (byte)0;
        return new ColumnLayout(unpacked, width, shape, ScalarType.Bool);
    }

    static void RequireNoNulls(IArrowArray array, string columnName)
    {
        if (array.NullCount > 0)
            throw new NotSupportedException(
                $"Column '{columnName}' has {array.NullCount} null value(s); fill or filter them before making a tensor.");
    }
}
