using Apache.Arrow;
using Functional.Streams.Columns;
using Functional.Streams.Sources;
using static TorchSharp.torch;

namespace Functional.Streams.Tables;

/// <summary>Operators for streams of record batches.</summary>
public static class RecordBatchStreams
{
    /// <summary>Each record batch as one tensor per column (one copy each; see <see cref="ArrowTensor"/>). The batches are disposed.</summary>
    public static DataStream<Tensor[]> ToTensors(this DataStream<RecordBatch> stream, params string[] columns)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Length == 0) throw new ArgumentException("Name at least one column.", nameof(columns));
        return stream.Then<Tensor[]>($"to tensors({string.Join(", ", columns)})", (input, _) => input.Select(batch =>
        {
            using (batch.Value)
            {
                try { return new Sourced<Tensor[]>(FromColumns(batch.Value, columns), batch.Origin); }
                catch (Exception e) { throw StreamException.Wrap("to tensors", batch.Origin, e); }
            }
        }));
    }

    /// <summary>Each record batch as (inputs, targets) for <c>Fit</c> (see <see cref="RowStreams.ToTensors(DataStream{Row[]}, string, string, long[], Func{Tensor, Tensor})"/>).</summary>
    public static DataStream<(Tensor Inputs, Tensor Targets)> ToTensors(this DataStream<RecordBatch> stream, string inputColumn, string targetColumn,
        long[]? inputShape = null, Func<Tensor, Tensor>? prepareInputs = null) =>
        stream.ToTensors([inputColumn, targetColumn]).Map(pair => LabeledTensors.Prepare(pair[0], pair[1], inputShape, prepareInputs), name: "prepare inputs");

    static Tensor[] FromColumns(RecordBatch batch, string[] columns)
    {
        var tensors = new Tensor[columns.Length];
        try
        {
            for (int c = 0; c < columns.Length; c++) tensors[c] = ArrowTensor.FromColumn(batch, columns[c]);
            return tensors;
        }
        catch
        {
            foreach (var t in tensors) t?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Caches the stream in an Arrow IPC file: the first complete run writes
    /// <paramref name="path"/> (atomically: a run abandoned halfway leaves no file), every later
    /// run — in this process or the next — reads the file instead of the stream before this
    /// point. Delete the file to rebuild the cache. All batches must share one schema.
    /// </summary>
    public static DataStream<RecordBatch> CacheToFile(this DataStream<RecordBatch> stream, string path)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        return stream.Then<RecordBatch>($"cache({Path.GetFileName(full)})", (input, _) =>
            File.Exists(full) ? ArrowIpcFile.ReadSourced(full) : Writing(input, full));
    }

    static IEnumerable<Sourced<RecordBatch>> Writing(IEnumerable<Sourced<RecordBatch>> input, string path)
    {
        using var writer = ArrowIpcFile.BeginWrite(path);
        foreach (var batch in input)
        {
            writer.Write(batch.Value);
            yield return batch;
        }
        writer.Commit();
    }
}
