using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using Functional.Streams.Tables;
using static TorchSharp.torch;

namespace Functional.Streams;

/// <summary>
/// Elements as text for people looking at a pipeline (<c>stream.Take(1)</c> in a script or a
/// notebook): tensors with their dtype, shape and first values; record batches and rows with
/// each column's type and first values; tuples, arrays and byte strings element by element.
/// </summary>
public static class ElementText
{
    const int ShownValues = 6;

    /// <summary>"(float32 [1, 28, 28] [0, 0, 0.5, 1, 0, 0, ...], int64 [] 7)".</summary>
    public static string Of(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        byte[] bytes => $"bytes[{bytes.Length}] {Convert.ToHexString(bytes.AsSpan(0, Math.Min(bytes.Length, 16))).ToLowerInvariant()}{(bytes.Length > 16 ? "..." : "")}",
        Tensor t => OfTensor(t),
        RecordBatch batch => $"RecordBatch, {batch.Length} rows: {string.Join("; ", batch.Schema.FieldsList.Select((f, c) => $"{f.Name} {TypeText(f.DataType)} {FirstValues(batch.Column(c), 0, Math.Min(batch.Length, ShownValues), batch.Length)}"))}",
        Row row => $"Row {{ {string.Join(", ", row.Batch.Schema.FieldsList.Select((f, c) => $"{f.Name}: {ValueAt(row.Batch.Column(c), row.Index)}"))} }}",
        ITuple tuple => $"({string.Join(", ", Enumerable.Range(0, tuple.Length).Select(i => Of(tuple[i])))})",
        System.Array array => $"[{array.Length}] [{string.Join(", ", array.Cast<object?>().Take(3).Select(Of))}{(array.Length > 3 ? ", ..." : "")}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? value.GetType().Name,
    };

    /// <summary>"(Tensor, Tensor)", "RecordBatch", "Row[]", "List&lt;int&gt;".</summary>
    public static string TypeName(Type type)
    {
        if (type.IsArray) return TypeName(type.GetElementType()!) + "[]";
        if (!type.IsGenericType) return type.Name;
        var arguments = type.GetGenericArguments().Select(TypeName);
        if (type.FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true || type.FullName?.StartsWith("System.Tuple`", StringComparison.Ordinal) == true)
            return $"({string.Join(", ", arguments)})";
        int tick = type.Name.IndexOf('`');
        return $"{(tick < 0 ? type.Name : type.Name[..tick])}<{string.Join(", ", arguments)}>";
    }

    static string OfTensor(Tensor t)
    {
        try
        {
            string head = $"{t.dtype.ToString().ToLowerInvariant()} [{string.Join(", ", t.shape)}]";
            if (t.numel() == 0) return head + " []";
            using var scope = NewDisposeScope();
            var flat = t.detach().flatten();
            long shown = Math.Min(flat.shape[0], ShownValues);
            var first = flat.narrow(0, 0, shown).to_type(ScalarType.Float64).cpu();
            var values = first.data<double>().ToArray().Select(Number);
            return $"{head} {(t.dim() == 0 ? values.Single() : $"[{string.Join(", ", values)}{(t.numel() > shown ? ", ..." : "")}]")}";
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
            return "tensor (disposed)";
        }
    }

    static string Number(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>"float[4]", "int64", "list&lt;int64&gt;", "utf8".</summary>
    internal static string TypeText(IArrowType type) => type switch
    {
        FixedSizeListType f => $"{TypeText(f.ValueDataType).Split('[')[0]}[{string.Join(", ", Shape(f))}]",
        ListType l => $"list<{TypeText(l.ValueDataType)}>",
        _ => type.Name,
    };

    static IEnumerable<int> Shape(IArrowType type)
    {
        while (type is FixedSizeListType f)
        {
            yield return f.ListSize;
            type = f.ValueDataType;
        }
    }

    /// <summary>Rows [start, end) of a column (of <paramref name="total"/>): "[1, 2, 3, ...]".</summary>
    static string FirstValues(IArrowArray column, int start, int end, int total) =>
        $"[{string.Join(", ", Enumerable.Range(start, end - start).Select(i => ValueAt(column, i)))}{(total > end ? ", ..." : "")}]";

    /// <summary>One row's value of a column: a number, a quoted string, or a list's first values.</summary>
    static string ValueAt(IArrowArray column, int row)
    {
        if (!column.IsValid(row)) return "null";
        switch (column)
        {
            case FixedSizeListArray list:
                int size = ((FixedSizeListType)list.Data.DataType).ListSize;
                int from = (list.Offset + row) * size;
                return FlatValues(list.Values, from, from + size);
            case ListArray list:
                return FlatValues(list.Values, list.ValueOffsets[row], list.ValueOffsets[row + 1]);
            case StringArray s: return $"\"{s.GetString(row)}\"";
            case BinaryArray b: return $"bytes[{b.GetBytes(row).Length}]";
            case BooleanArray b: return b.GetValue(row) == true ? "true" : "false";
            case Int8Array a: return Number(a.GetValue(row)!.Value);
            case Int16Array a: return Number(a.GetValue(row)!.Value);
            case Int32Array a: return Number(a.GetValue(row)!.Value);
            case Int64Array a: return a.GetValue(row)!.Value.ToString(CultureInfo.InvariantCulture);
            case UInt8Array a: return Number(a.GetValue(row)!.Value);
            case UInt16Array a: return Number(a.GetValue(row)!.Value);
            case UInt32Array a: return Number(a.GetValue(row)!.Value);
            case UInt64Array a: return a.GetValue(row)!.Value.ToString(CultureInfo.InvariantCulture);
            case HalfFloatArray a: return Number((double)a.GetValue(row)!.Value);
            case FloatArray a: return Number(a.GetValue(row)!.Value);
            case DoubleArray a: return Number(a.GetValue(row)!.Value);
            default: return column.Data.DataType.Name;
        }
    }

    /// <summary>Values [start, end) of a list's (possibly nested) values, flattened: "[0.5, 1, ...]" (the first six).</summary>
    static string FlatValues(IArrowArray values, int start, int end)
    {
        while (values is FixedSizeListArray inner)
        {
            int size = ((FixedSizeListType)inner.Data.DataType).ListSize;
            (start, end) = ((inner.Offset + start) * size, (inner.Offset + end) * size);
            values = inner.Values;
        }
        var text = new StringBuilder("[");
        for (int i = start; i < Math.Min(end, start + ShownValues); i++) text.Append(i > start ? ", " : "").Append(ValueAt(values, i));
        return text.Append(end - start > ShownValues ? ", ...]" : "]").ToString();
    }
}
