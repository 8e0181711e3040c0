using Apache.Arrow;
using Functional.Streams.Columns;
using TorchSharp;
using static TorchSharp.torch;

namespace Functional.Streams.Tables;

/// <summary>Operators between record batches, rows and tensors.</summary>
public static class RowStreams
{
    /// <summary>
    /// Each record batch's rows, one element per row (for row-level shuffle, filter, batch).
    /// A batch stays alive until its last row is released.
    /// </summary>
    public static DataStream<Row> Rows(this DataStream<RecordBatch> stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.Then<Row>("rows", (input, _) => SplitIntoRows(input));
    }

    static IEnumerable<Sourced<Row>> SplitIntoRows(IEnumerable<Sourced<RecordBatch>> input)
    {
        foreach (var batch in input)
        {
            var shared = new SharedBatch(batch.Value, batch.Origin.Source);
            int i = 0;
            try
            {
                for (; i < batch.Value.Length; i++)
                    yield return new(new Row(shared, i), batch.Origin with { Row = batch.Origin.Row + i });
            }
            finally
            {
                // Rows not handed out (the consumer stopped early) give their references back.
                for (i++; i < batch.Value.Length; i++) shared.Release();
            }
        }
    }

    /// <summary>
    /// Each batch of rows as one tensor per column, [rows, list sizes...] in the column's dtype
    /// (see <see cref="ArrowTensor"/> for the mapping): the rows' bytes are copied once, straight
    /// from the Arrow buffers into the tensors. The rows are released.
    /// </summary>
    public static DataStream<Tensor[]> ToTensors(this DataStream<Row[]> stream, params string[] columns)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Length == 0) throw new ArgumentException("Name at least one column.", nameof(columns));
        return stream.Then<Tensor[]>($"to tensors({string.Join(", ", columns)})", (input, _) => Gathered(input, columns));
    }

    /// <summary>
    /// Each batch of rows as (inputs, targets) tensors for <c>Fit</c>: the input column reshaped
    /// to [rows, <paramref name="inputShape"/>...] (when given) and passed through
    /// <paramref name="prepareInputs"/> (default: to float32), the target column as it is.
    /// </summary>
    public static DataStream<(Tensor Inputs, Tensor Targets)> ToTensors(this DataStream<Row[]> stream, string inputColumn, string targetColumn,
        long[]? inputShape = null, Func<Tensor, Tensor>? prepareInputs = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.ToTensors([inputColumn, targetColumn]).Map(pair => LabeledTensors.Prepare(pair[0], pair[1], inputShape, prepareInputs), name: "prepare inputs");
    }

    static IEnumerable<Sourced<Tensor[]>> Gathered(IEnumerable<Sourced<Row[]>> input, string[] columns)
    {
        foreach (var batch in input)
        {
            Tensor[] tensors;
            try { tensors = Gather(batch.Value, columns); }
            catch (Exception e) { throw StreamException.Wrap("to tensors", batch.Origin, e); }
            finally { foreach (var row in batch.Value) row.Dispose(); }
            yield return new(tensors, batch.Origin);
        }
    }

    /// <summary>One tensor per column holding <paramref name="rows"/>' values, in order.</summary>
    internal static Tensor[] Gather(Row[] rows, string[] columns)
    {
        var tensors = new Tensor[columns.Length];
        try
        {
            for (int c = 0; c < columns.Length; c++) tensors[c] = GatherColumn(rows, columns[c]);
            return tensors;
        }
        catch
        {
            foreach (var t in tensors) t?.Dispose();
            throw;
        }
    }

    static Tensor GatherColumn(Row[] rows, string column)
    {
        if (rows.Length == 0) throw new ArgumentException("A batch of rows is empty.");
        var first = rows[0].Owner.Layout(column);
        var tensor = torch.empty([rows.Length, .. first.RowShape], first.DType);
        try { RowGather.CopyColumn(rows, column, first, tensor.bytes); }
        catch
        {
            tensor.Dispose();
            throw;
        }
        return tensor;
    }

    /// <summary>Each batch of rows as one record batch (any column types; values are copied).</summary>
    public static DataStream<RecordBatch> ToRecordBatches(this DataStream<Row[]> stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return stream.Then<RecordBatch>("to record batches", (input, _) => input.Select(batch => new Sourced<RecordBatch>(Concatenate(batch.Value), batch.Origin)));
    }

    static RecordBatch Concatenate(Row[] rows)
    {
        try { return RowGather.ToRecordBatch(rows); }
        finally { foreach (var row in rows) row.Dispose(); }
    }
}
