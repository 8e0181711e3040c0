using Apache.Arrow;
using Apache.Arrow.Ipc;
using Functional.Persistence;

namespace Functional.Streams.Sources;

/// <summary>
/// Arrow IPC files (the "Feather v2" file format): record batches read one at a time, and
/// written atomically with a checksum of the whole file in the schema's metadata
/// (<see cref="FileChecksum"/>), which the reader verifies before the first batch. A damaged or
/// truncated file is an <see cref="InvalidDataException"/> naming the file.
/// </summary>
public static class ArrowIpcFile
{
    /// <summary>The file's record batches, in order, read lazily; each batch belongs to the caller.</summary>
    public static IEnumerable<RecordBatch> Read(string path) => ReadSourced(path).Select(b => b.Value);

    internal static IEnumerable<Sourced<RecordBatch>> ReadSourced(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArrowFileReader reader;
        try { reader = ArrowFileReader.FromFile(path); }
        catch (Exception e) when (IsFormatError(e)) { throw Damaged(path, e); }
        using (reader)
        {
            string? problem;
            try { problem = FileChecksum.Verify(path, reader.Schema.Metadata); }
            catch (Exception e) when (IsFormatError(e)) { throw Damaged(path, e); }
            if (problem is not null) throw new InvalidDataException($"{path} is damaged: {problem}.");
            long row = 0;
            while (true)
            {
                RecordBatch? batch;
                try { batch = reader.ReadNextRecordBatch(); }
                catch (Exception e) when (IsFormatError(e)) { throw Damaged(path, e); }
                if (batch is null) yield break;
                yield return new(batch, new Origin(path, row));
                row += batch.Length;
            }
        }
    }

    /// <summary>Writes <paramref name="batches"/> (all of one schema) to <paramref name="path"/>, atomically.</summary>
    public static void Write(string path, Schema schema, IEnumerable<RecordBatch> batches)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(batches);
        using var writer = BeginWrite(path, schema);
        foreach (var batch in batches) writer.Write(batch);
        writer.Commit();
    }

    /// <summary>Starts writing <paramref name="path"/> batch by batch; nothing appears there before <see cref="Writer.Commit"/>.</summary>
    public static Writer BeginWrite(string path, Schema? schema = null) => new(AtomicFile.Begin(path), schema);

    /// <summary>An Arrow IPC file being written (the schema is the first batch's unless given).</summary>
    public sealed class Writer : IDisposable
    {
        readonly PendingFile file;
        ArrowFileWriter? writer;
        Schema? schema;
        string? placeholder;

        internal Writer(PendingFile file, Schema? schema) => (this.file, this.schema) = (file, schema);

        /// <summary>Appends <paramref name="batch"/>.</summary>
        public void Write(RecordBatch batch)
        {
            ArgumentNullException.ThrowIfNull(batch);
            schema ??= batch.Schema;
            writer ??= Start(schema);
            writer.WriteRecordBatch(batch);
        }

        /// <summary>Ends the file and moves it into place.</summary>
        public void Commit()
        {
            writer ??= Start(schema ?? throw new InvalidOperationException("An Arrow IPC file needs a schema: write at least one batch or give one."));
            writer.WriteEnd();
            writer.Dispose();
            file.Commit(written => FileChecksum.Seal(written, placeholder!));
        }

        ArrowFileWriter Start(Schema given)
        {
            (var sealable, placeholder) = FileChecksum.WithPlaceholder(given);
            return new ArrowFileWriter(file.Stream, sealable, leaveOpen: true);
        }

        /// <summary>Abandons the file unless it was committed.</summary>
        public void Dispose()
        {
            writer?.Dispose();
            file.Dispose();
        }
    }

    /// <summary>What damage raises inside Apache.Arrow's reader: format and range exceptions, and
    /// bare <see cref="Exception"/>s from its flatbuffer parsing ("Unexpected bit width of 0 ...").</summary>
    static bool IsFormatError(Exception e) => e is not (OperationCanceledException or OutOfMemoryException);

    static InvalidDataException Damaged(string path, Exception e) =>
        new($"{path} is not a readable Arrow IPC file: {e.Message}", e);
}
