using Apache.Arrow;
using Apache.Arrow.Types;

namespace Functional.Streams.Records;

/// <summary>
/// Rows of record batches as tf.train.Examples: each column a feature of the same name. Integer
/// and boolean columns become Int64Lists, floating-point ones FloatLists (float32), string and
/// binary ones BytesLists; fixed-size lists (any depth) are flattened in row-major order and list
/// columns give variable-length features; a null is a missing feature.
/// </summary>
internal static class ExampleEncoding
{
    public static IEnumerable<TfExample> ToExamples(RecordBatch batch)
    {
        RequireSupported(batch);
        for (int row = 0; row < batch.Length; row++)
        {
            var features = new Dictionary<string, TfFeature>(StringComparer.Ordinal);
            for (int c = 0; c < batch.ColumnCount; c++)
                if (batch.Column(c).IsValid(row)) features[batch.Schema.GetFieldByIndex(c).Name] = FeatureOf(batch.Column(c), row, row + 1);
            yield return new TfExample(features);
        }
    }

    /// <summary>As <see cref="ToExamples"/>, but the <paramref name="sequenceColumns"/> (list columns) become feature lists, one feature per list element.</summary>
    public static IEnumerable<TfSequenceExample> ToSequenceExamples(RecordBatch batch, IReadOnlySet<string> sequenceColumns)
    {
        RequireSupported(batch);
        foreach (var name in sequenceColumns)
        {
            int index = batch.Schema.GetFieldIndex(name);
            if (index < 0) throw new ArgumentException($"No column '{name}' to write as a feature list; the columns are {string.Join(", ", batch.Schema.FieldsList.Select(f => f.Name))}.", nameof(sequenceColumns));
            if (batch.Column(index) is not ListArray)
                throw new ArgumentException($"Column '{name}' is {batch.Schema.GetFieldByIndex(index).DataType.Name}; a feature list is written from a list column (one element per step).", nameof(sequenceColumns));
        }
        for (int row = 0; row < batch.Length; row++)
        {
            var context = new Dictionary<string, TfFeature>(StringComparer.Ordinal);
            var lists = new Dictionary<string, IReadOnlyList<TfFeature>>(StringComparer.Ordinal);
            for (int c = 0; c < batch.ColumnCount; c++)
            {
                var column = batch.Column(c);
                var name = batch.Schema.GetFieldByIndex(c).Name;
                if (!column.IsValid(row)) continue;
                if (!sequenceColumns.Contains(name)) { context[name] = FeatureOf(column, row, row + 1); continue; }
                var list = (ListArray)column;
                int start = list.ValueOffsets[row], end = list.ValueOffsets[row + 1];
                lists[name] = [.. Enumerable.Range(start, end - start).Select(step => FeatureOf(list.Values, step, step + 1))];
            }
            yield return new TfSequenceExample(context, lists);
        }
    }

    static void RequireSupported(RecordBatch batch)
    {
        foreach (var field in batch.Schema.FieldsList)
            if (KindOf(field.DataType) is null)
                throw new NotSupportedException($"Column '{field.Name}' is {Describe(field.DataType)}, which has no tf.train.Feature form; supported: integers, booleans, floating point, strings, binary, and fixed-size or variable lists of them.");
    }

    static string Describe(IArrowType type) => type switch
    {
        FixedSizeListType f => $"fixed_size_list<{Describe(f.ValueDataType)}>",
        ListType l => $"list<{Describe(l.ValueDataType)}>",
        _ => type.Name,
    };

    static TfFeatureKind? KindOf(IArrowType type) => type switch
    {
        Int8Type or Int16Type or Int32Type or Int64Type or UInt8Type or UInt16Type or UInt32Type or UInt64Type or BooleanType => TfFeatureKind.Int64,
        HalfFloatType or FloatType or DoubleType => TfFeatureKind.Float,
        StringType or BinaryType => TfFeatureKind.Bytes,
        FixedSizeListType f => KindOf(f.ValueDataType),
        ListType l => KindOf(l.ValueDataType),
        _ => null,
    };

    /// <summary>The values of rows [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="array"/>, flattened into one feature.</summary>
    static TfFeature FeatureOf(IArrowArray array, int start, int end)
    {
        var int64s = new List<long>();
        var floats = new List<float>();
        var bytes = new List<byte[]>();
        Collect(array, start, end, int64s, floats, bytes);
        return KindOf(array.Data.DataType) switch
        {
            TfFeatureKind.Int64 => TfFeature.Of([.. int64s]),
            TfFeatureKind.Float => TfFeature.Of([.. floats]),
            _ => TfFeature.Of([.. bytes]),
        };
    }

    static void Collect(IArrowArray array, int start, int end, List<long> int64s, List<float> floats, List<byte[]> bytes)
    {
        for (int i = start; i < end; i++)
            if (!array.IsValid(i))
                throw new NotSupportedException($"A null inside a list (element {i}) has no tf.train.Feature form; only whole rows may be null.");
        switch (array)
        {
            case FixedSizeListArray list:
                int size = ((FixedSizeListType)list.Data.DataType).ListSize;
                Collect(list.Values, (list.Offset + start) * size, (list.Offset + end) * size, int64s, floats, bytes);
                return;
            case ListArray list:
                Collect(list.Values, list.ValueOffsets[start], list.ValueOffsets[end], int64s, floats, bytes);
                return;
        }
        for (int i = start; i < end; i++)
        {
            switch (array)
            {
                case Int8Array a: int64s.Add(a.GetValue(i)!.Value); break;
                case Int16Array a: int64s.Add(a.GetValue(i)!.Value); break;
                case Int32Array a: int64s.Add(a.GetValue(i)!.Value); break;
                case Int64Array a: int64s.Add(a.GetValue(i)!.Value); break;
                case UInt8Array a: int64s.Add(a.GetValue(i)!.Value); break;
                case UInt16Array a: int64s.Add(a.GetValue(i)!.Value); break;
                case UInt32Array a: int64s.Add(a.GetValue(i)!.Value); break;
                case UInt64Array a: int64s.Add(checked((long)a.GetValue(i)!.Value)); break;
                case BooleanArray a: int64s.Add(a.GetValue(i)!.Value ? 1 : 0); break;
                case HalfFloatArray a: floats.Add((float)a.GetValue(i)!.Value); break;
                case FloatArray a: floats.Add(a.GetValue(i)!.Value); break;
                case DoubleArray a: floats.Add((float)a.GetValue(i)!.Value); break;
                case StringArray a: bytes.Add(a.GetBytes(i).ToArray()); break;
                case BinaryArray a: bytes.Add(a.GetBytes(i).ToArray()); break;
            }
        }
    }
}
