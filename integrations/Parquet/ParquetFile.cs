using Apache.Arrow;
using Functional.Persistence;
using ParquetSharp.Arrow;

namespace Functional.Streams.Sources;

/// <summary>Parquet files written from record batches, atomically (a failed write leaves the old
/// file as it was), with a CRC on every page and the XxHash128 of the whole file in the footer's
/// metadata (<see cref="FileChecksum"/>), both verified by <see cref="ParquetStreams.Parquet(string, int, int)"/>.</summary>
public static class ParquetFile
{
    /// <summary>
    /// Writes <paramref name="batches"/> (one schema) to <paramref name="path"/>, each batch a
    /// row group. The Arrow schema is stored too, so fixed-size-list columns read back as such.
    /// </summary>
    public static void Write(string path, IEnumerable<RecordBatch> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        using var pending = AtomicFile.Begin(path);
        string? placeholder = null;
        using (var properties = new ArrowWriterPropertiesBuilder().StoreSchema().Build())
        using (var builder = new ParquetSharp.WriterPropertiesBuilder())
        using (var writerProperties = builder.EnablePageChecksum().Build())
        {
            FileWriter? writer = null;
            try
            {
                foreach (var batch in batches)
                {
                    if (writer is null)
                    {
                        (var sealable, placeholder) = FileChecksum.WithPlaceholder(batch.Schema);
                        writer = new FileWriter(pending.Stream, sealable, writerProperties, properties, leaveOpen: true);
                    }
                    writer.WriteRecordBatch(batch);
                }
                if (writer is null) throw new ArgumentException("A Parquet file needs at least one record batch (it takes its schema from the first).", nameof(batches));
                writer.Close();
            }
            finally
            {
                writer?.Dispose();
            }
        }
        pending.Commit(written => FileChecksum.Seal(written, placeholder!));
    }
}
