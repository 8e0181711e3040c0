using Apache.Arrow;
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
        var layout = ColumnLayout.Of(array, columnName);
        var tensor = torch.empty([array.Length, .. layout.RowShape], layout.DType);
        layout.Bytes.Span.CopyTo(tensor.bytes);
        return tensor;
    }
}
