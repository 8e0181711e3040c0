using Apache.Arrow;
using Apache.Arrow.Types;
using Functional.Streams.Columns;

namespace Functional.Streams.Tables;

/// <summary>
/// Rows of any batches into one new record batch, copying their values: fixed-width columns
/// (primitives and fixed-size lists of them) row by row from the Arrow buffers, other columns
/// (strings, booleans, variable-size lists, columns with nulls) through Arrow's concatenation of one-row slices.
/// The rows are not released here.
/// </summary>
internal static class RowGather
{
    public static RecordBatch ToRecordBatch(IReadOnlyList<Row> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("A batch of rows is empty.");
        var schema = rows[0].Batch.Schema;
        var columns = new IArrowArray[schema.FieldsList.Count];
        for (int c = 0; c < columns.Length; c++)
        {
            var field = schema.GetFieldByIndex(c);
            columns[c] = IsFixedWidth(field.DataType) && !HasNulls(rows, c) ? FixedWidth(rows, field) : Concatenated(rows, c);
        }
        return new RecordBatch(schema, columns, rows.Count);
    }

    static bool HasNulls(IReadOnlyList<Row> rows, int column)
    {
        SharedBatch? owner = null;
        foreach (var row in rows)
        {
            if (ReferenceEquals(row.Owner, owner)) continue;
            owner = row.Owner;
            if (HasNulls(owner.Batch.Column(column))) return true;
        }
        return false;
    }

    static bool HasNulls(IArrowArray array) => array.NullCount > 0 || (array is FixedSizeListArray list && HasNulls(list.Values));

    static bool IsFixedWidth(IArrowType type) => type switch
    {
        FixedSizeListType list => IsFixedWidth(list.ValueDataType),
        FloatType or DoubleType or HalfFloatType or Int8Type or Int16Type or Int32Type or Int64Type or UInt8Type => true,
        _ => false,
    };

    static IArrowArray FixedWidth(IReadOnlyList<Row> rows, Field field)
    {
        var first = rows[0].Owner.Layout(field.Name);
        var bytes = new byte[(long)rows.Count * first.RowBytes];
        CopyColumn(rows, field.Name, first, bytes);
        return Nest(field.DataType, rows.Count, new ArrowBuffer(bytes));
    }

    /// <summary>
    /// Copies column <paramref name="column"/> of <paramref name="rows"/> into
    /// <paramref name="target"/>, row after row (<paramref name="first"/> is the first row's
    /// layout); the layout is looked up once per record batch.
    /// </summary>
    /// <exception cref="InvalidDataException">Rows from different batches hold the column in different shapes or dtypes.</exception>
    public static void CopyColumn(IReadOnlyList<Row> rows, string column, ColumnLayout first, Span<byte> target)
    {
        SharedBatch? owner = null;
        ColumnLayout layout = first;
        for (int i = 0; i < rows.Count; i++)
        {
            if (!ReferenceEquals(rows[i].Owner, owner))
            {
                owner = rows[i].Owner;
                layout = owner.Layout(column);
                if (!layout.SameShapeAs(first))
                    throw new InvalidDataException(
                        $"Column '{column}' holds {first.Describe()} in rows from {rows[0].Owner.Source} but {layout.Describe()} in rows from {owner.Source}; one batch needs one shape.");
            }
            layout.RowSpan(rows[i].Index).CopyTo(target.Slice(i * first.RowBytes, first.RowBytes));
        }
    }

    /// <summary>An array of <paramref name="type"/> with <paramref name="length"/> rows over one value buffer.</summary>
    static IArrowArray Nest(IArrowType type, int length, ArrowBuffer values) =>
        ArrowArrayFactory.BuildArray(NestData(type, length, values));

    static ArrayData NestData(IArrowType type, int length, ArrowBuffer values) => type is FixedSizeListType list
        ? new ArrayData(list, length, 0, 0, [ArrowBuffer.Empty], [NestData(list.ValueDataType, length * list.ListSize, values)])
        : new ArrayData(type, length, 0, 0, [ArrowBuffer.Empty, values]);

    static IArrowArray Concatenated(IReadOnlyList<Row> rows, int column)
    {
        var pieces = new List<IArrowArray>(rows.Count);
        foreach (var row in rows) pieces.Add(ArrowArrayFactory.BuildArray(row.Batch.Column(column).Data.Slice(row.Index, 1)));
        return ArrowArrayConcatenator.Concatenate(pieces);
    }
}
