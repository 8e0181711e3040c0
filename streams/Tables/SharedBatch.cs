using Apache.Arrow;
using Functional.Streams.Columns;

namespace Functional.Streams.Tables;

/// <summary>
/// A record batch shared by its rows: each row holds one reference, and the batch is disposed
/// when the last is released. Keeps the column layouts that gathering rows into tensors needs.
/// </summary>
internal sealed class SharedBatch
{
    readonly Dictionary<string, ColumnLayout> layouts = [];
    int references;

    public SharedBatch(RecordBatch batch, string source)
    {
        (Batch, Source, references) = (batch, source, batch.Length);
        long bytes = RowBatchMemory.BytesOf(batch);
        RowBytes = batch.Length == 0 ? 0 : bytes / batch.Length;
        TotalBytes = bytes;
        RowBatchMemory.Acquired(bytes);
        if (batch.Length == 0) Free();
    }

    public RecordBatch Batch { get; }

    /// <summary>Where the batch was read from (a file path, or a description).</summary>
    public string Source { get; }

    /// <summary>Bytes of Arrow buffers per row, on average.</summary>
    public long RowBytes { get; }

    /// <summary>Bytes of the batch's buffers.</summary>
    public long TotalBytes { get; }

    /// <summary>The layout of column <paramref name="name"/> (computed once per batch).</summary>
    public ColumnLayout Layout(string name)
    {
        lock (layouts)
        {
            if (layouts.TryGetValue(name, out var layout)) return layout;
            int index = Batch.Schema.GetFieldIndex(name);
            if (index < 0)
                throw new ArgumentException(
                    $"Rows from {Source} have no column '{name}'; their columns are {string.Join(", ", Batch.Schema.FieldsList.Select(f => $"'{f.Name}'"))}.");
            return layouts[name] = ColumnLayout.Of(Batch.Column(index), name);
        }
    }

    public void Release()
    {
        int left = Interlocked.Decrement(ref references);
        if (left == 0) Free();
        else if (left < 0) throw new InvalidOperationException($"A row of a batch from {Source} was released twice.");
    }

    void Free()
    {
        Batch.Dispose();
        RowBatchMemory.Released(TotalBytes);
    }
}

/// <summary>
/// Bytes of record batches that rows still hold, over the whole process: what shuffle buffers
/// and batches of rows keep alive. Used to check that pipelines keep memory bounded.
/// </summary>
public static class RowBatchMemory
{
    static long live, peak;

    /// <summary>Bytes held now.</summary>
    public static long LiveBytes => Interlocked.Read(ref live);

    /// <summary>The most held at once since the last <see cref="ResetPeak"/>.</summary>
    public static long PeakBytes => Interlocked.Read(ref peak);

    /// <summary>Starts a new peak measurement from the bytes held now.</summary>
    public static void ResetPeak() => Interlocked.Exchange(ref peak, LiveBytes);

    internal static void Acquired(long bytes)
    {
        long now = Interlocked.Add(ref live, bytes), seen;
        while (now > (seen = Interlocked.Read(ref peak)) && Interlocked.CompareExchange(ref peak, now, seen) != seen) { }
    }

    internal static void Released(long bytes) => Interlocked.Add(ref live, -bytes);

    /// <summary>The bytes of a record batch's Arrow buffers, children included.</summary>
    internal static long BytesOf(RecordBatch batch)
    {
        long total = 0;
        foreach (var array in batch.Arrays) total += BytesOf(array.Data);
        return total;
    }

    static long BytesOf(ArrayData data)
    {
        long total = 0;
        foreach (var buffer in data.Buffers ?? []) total += buffer.Length;
        foreach (var child in data.Children ?? []) total += BytesOf(child);
        return total;
    }
}
