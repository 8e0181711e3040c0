using Apache.Arrow;
using Apache.Arrow.Ipc;
using Functional.Streams.Columns;
using Functional.Streams.Sources;
using Functional.Streams.Tables;
using static TorchSharp.torch;

namespace Functional.Streams;

/// <summary>
/// Where streams start: in-memory values, tensors and record batches, generators, Arrow IPC,
/// CSV files (Parquet: package Functional.Streams.Parquet), folders of images, text lines and live observables. Tables (Parquet,
/// CSV, Arrow IPC files) are streams of rows, as in tf.data; their <c>...Batches</c> forms give
/// the record batches as read (for per-batch work and <c>CacheToFile</c>; <c>.Rows()</c> splits them). Every source is
/// cold (each run reads it again from the start) except <see cref="FromObservable{T}"/>.
/// </summary>
public static partial class DataStream
{
    /// <summary>The elements of <paramref name="values"/> (read again each run).</summary>
    public static DataStream<T> FromValues<T>(IEnumerable<T> values, string name = "values")
    {
        ArgumentNullException.ThrowIfNull(values);
        return FromGenerator(() => values, name);
    }

    /// <summary>
    /// The elements <paramref name="generate"/> yields; it is called once per run, so it can
    /// produce a fresh sequence each epoch. Exceptions it throws name the generator and the
    /// index of the element it was producing.
    /// </summary>
    /// <example><c>DataStream.FromGenerator(() => Enumerable.Range(0, 1000).Select(i => Simulate(i)))</c></example>
    public static DataStream<T> FromGenerator<T>(Func<IEnumerable<T>> generate, string name = "generator")
    {
        ArgumentNullException.ThrowIfNull(generate);
        return new DataStream<T>(name, (run, _) => Generated(generate, name, run));
    }

    /// <summary>
    /// A source of your own (a file format, a database): <paramref name="produce"/> yields each
    /// element with its origin (the file or table and the row, which error messages downstream
    /// name) and stops early when the run's token is cancelled. Its exceptions reach the consumer
    /// as they are, so a source reports damage in its own words (naming the file and row). Each
    /// run of the stream (each epoch) calls <paramref name="produce"/> again.
    /// </summary>
    public static DataStream<T> FromSource<T>(string name, Func<CancellationToken, IEnumerable<(T Value, Origin Origin)>> produce)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(produce);
        return new DataStream<T>(name, (run, _) => produce(run.Token).Select(p => new Sourced<T>(p.Value, p.Origin)));
    }

    static IEnumerable<Sourced<T>> Generated<T>(Func<IEnumerable<T>> generate, string name, StreamRun run)
    {
        long row = 0;
        IEnumerator<T> items;
        try { items = generate().GetEnumerator(); }
        catch (Exception e) { throw StreamException.Wrap(name, new Origin(name, 0), e); }
        using (items)
        {
            while (true)
            {
                run.Token.ThrowIfCancellationRequested();
                bool more;
                try { more = items.MoveNext(); }
                catch (Exception e) { throw StreamException.Wrap(name, new Origin(name, row), e); }
                if (!more) yield break;
                yield return new(items.Current, new Origin(name, row++));
            }
        }
    }

    /// <summary>
    /// Record batches of <paramref name="batchRows"/> rows made from in-memory tensors with the
    /// same first dimension, one column each (a tensor of shape [n, d1, d2] becomes a column of
    /// fixed-size lists d1 x d2; see <see cref="ArrowTensor"/> for the dtypes). The tensors'
    /// values are copied once, when the stream is built.
    /// </summary>
    /// <example><c>DataStream.FromTensors(new() { ["image"] = images, ["label"] = labels }).Rows().Shuffle(60_000)</c></example>
    public static DataStream<RecordBatch> FromTensors(IReadOnlyDictionary<string, Tensor> columns, int batchRows = 1024)
    {
        var batches = TensorColumns.ToRecordBatches(columns, batchRows);
        return FromRecordBatches(batches, "tensors");
    }

    /// <summary>
    /// The given record batches (replayed each run as shared views, so consumers may dispose
    /// what they receive; the originals stay the caller's).
    /// </summary>
    public static DataStream<RecordBatch> FromRecordBatches(IReadOnlyList<RecordBatch> batches, string name = "record batches")
    {
        ArgumentNullException.ThrowIfNull(batches);
        return new DataStream<RecordBatch>(name, (run, _) => Replayed(batches, name));
    }

    static IEnumerable<Sourced<RecordBatch>> Replayed(IReadOnlyList<RecordBatch> batches, string name)
    {
        long row = 0;
        foreach (var batch in batches)
        {
            yield return new(batch.SliceShared(0, batch.Length), new Origin(name, row));
            row += batch.Length;
        }
    }

    /// <summary>The rows of an Arrow IPC file, one element per row (see <see cref="ArrowIpcBatches"/>).</summary>
    public static DataStream<Row> ArrowIpc(string path) => ArrowIpcBatches(path).Rows();

    /// <summary>The record batches of an Arrow IPC file (read lazily; a damaged file is named in the error).</summary>
    public static DataStream<RecordBatch> ArrowIpcBatches(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new DataStream<RecordBatch>($"arrow ipc({Path.GetFileName(path)})", (_, _) => ArrowIpcFile.ReadSourced(path));
    }

    /// <summary>
    /// The record batches of an Arrow IPC stream (the streaming format, e.g. from a socket or a
    /// pipe); <paramref name="open"/> is called once per run and the stream is disposed after.
    /// </summary>
    public static DataStream<RecordBatch> ArrowIpcStream(Func<System.IO.Stream> open, string name = "arrow ipc stream")
    {
        ArgumentNullException.ThrowIfNull(open);
        return new DataStream<RecordBatch>(name, (_, _) => ReadIpcStream(open, name));
    }

    static IEnumerable<Sourced<RecordBatch>> ReadIpcStream(Func<System.IO.Stream> open, string name)
    {
        using var reader = new ArrowStreamReader(open(), leaveOpen: false);
        long row = 0;
        while (true)
        {
            RecordBatch? batch;
            try { batch = reader.ReadNextRecordBatch(); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidDataException($"{name} is not a readable Arrow IPC stream after row {row}: {e.Message}", e);
            }
            if (batch is null) yield break;
            yield return new(batch, new Origin(name, row));
            row += batch.Length;
        }
    }

    /// <summary>The lines of a text file (without line ends); each element's origin is its line number, from 0.</summary>
    public static DataStream<string> TextLines(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new DataStream<string>($"text lines({Path.GetFileName(path)})", (_, _) => Lines(path));
    }

    static IEnumerable<Sourced<string>> Lines(string path)
    {
        long row = 0;
        foreach (var line in File.ReadLines(path)) yield return new(line, new Origin(path, row++));
    }

    /// <summary>
    /// The files matching <paramref name="pattern"/>, sorted: a folder and a file pattern with
    /// * and ? ("data/part-*.parquet"), or "**" for every sub-folder ("data/**/*.csv").
    /// </summary>
    public static IReadOnlyList<string> Glob(string pattern)
    {
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        string folder = Path.GetDirectoryName(pattern) is { Length: > 0 } d ? d : ".";
        string file = Path.GetFileName(pattern);
        var option = SearchOption.TopDirectoryOnly;
        if (Path.GetFileName(folder) == "**")
        {
            folder = Path.GetDirectoryName(folder) is { Length: > 0 } parent ? parent : ".";
            option = SearchOption.AllDirectories;
        }
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"No folder '{folder}' for the pattern '{pattern}'.");
        return Directory.GetFiles(folder, file, option).Order(StringComparer.Ordinal).ToArray();
    }
}
