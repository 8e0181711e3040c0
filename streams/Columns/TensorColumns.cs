using Apache.Arrow;
using Apache.Arrow.Types;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams.Columns;

/// <summary>Tensors into Arrow columns: the inverse of <see cref="ArrowTensor"/> (same dtype table).</summary>
public static class TensorColumns
{
    /// <summary>
    /// Record batches of <paramref name="batchRows"/> rows holding <paramref name="columns"/>
    /// (tensors with the same first dimension; extra dimensions become nested fixed-size lists).
    /// </summary>
    public static IReadOnlyList<RecordBatch> ToRecordBatches(IReadOnlyDictionary<string, Tensor> columns, int batchRows = 1024)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0) throw new ArgumentException("Give at least one column.", nameof(columns));
        if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
        long rows = -1;
        foreach (var (name, tensor) in columns)
        {
            if (tensor.dim() == 0) throw new ArgumentException($"Column '{name}' is a scalar; a column needs a first dimension of rows.", nameof(columns));
            if (rows >= 0 && tensor.shape[0] != rows)
                throw new ArgumentException($"Column '{name}' has {tensor.shape[0]} rows, the others {rows}; all columns need the same number.", nameof(columns));
            rows = tensor.shape[0];
        }
        var fields = columns.Select(c => new Field(c.Key, ArrowType(c.Value), nullable: false)).ToList();
        var schema = new Schema(fields, null);
        var batches = new List<RecordBatch>();
        for (long start = 0; start < rows; start += batchRows)
        {
            int length = (int)Math.Min(batchRows, rows - start);
            var arrays = columns.Values.Select(t =>
            {
                using var part = t.narrow(0, start, length);
                return ToArray(part);
            }).ToList();
            batches.Add(new RecordBatch(schema, arrays, length));
        }
        return batches;
    }

    /// <summary>One tensor as an Arrow array of its first dimension's length (values copied).</summary>
    public static IArrowArray ToArray(Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        using var contiguous = tensor.contiguous();
        var bytes = new ArrowBuffer(contiguous.bytes.ToArray());
        int count = checked((int)contiguous.NumberOfElements);
        IArrowArray values = ArrowArrayFactory.BuildArray(new ArrayData(ElementType(tensor.dtype), count, 0, 0, [ArrowBuffer.Empty, bytes]));
        for (int d = (int)tensor.dim() - 1; d >= 1; d--)
        {
            int size = checked((int)tensor.shape[d]);
            count /= size;
            var type = new FixedSizeListType(new Field("item", values.Data.DataType, nullable: false), size);
            values = new FixedSizeListArray(new ArrayData(type, count, 0, 0, [ArrowBuffer.Empty], [values.Data]));
        }
        return values;
    }

    static IArrowType ArrowType(Tensor tensor)
    {
        IArrowType type = ElementType(tensor.dtype);
        for (int d = (int)tensor.dim() - 1; d >= 1; d--) type = new FixedSizeListType(new Field("item", type, nullable: false), checked((int)tensor.shape[d]));
        return type;
    }

    static IArrowType ElementType(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => FloatType.Default,
        ScalarType.Float64 => DoubleType.Default,
        ScalarType.Float16 => HalfFloatType.Default,
        ScalarType.Int8 => Int8Type.Default,
        ScalarType.Int16 => Int16Type.Default,
        ScalarType.Int32 => Int32Type.Default,
        ScalarType.Int64 => Int64Type.Default,
        ScalarType.Byte => UInt8Type.Default,
        _ => throw new NotSupportedException($"Tensors of dtype {dtype} have no Arrow column type here; convert them to one of float32/64/16, int8/16/32/64, uint8."),
    };
}
