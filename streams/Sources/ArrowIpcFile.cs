using Apache.Arrow;
using Apache.Arrow.Ipc;
using Functional.Persistence;

namespace Functional.Streams.Sources;

/// <summary>
/// Arrow IPC files (the "Feather v2" file format): record batches read one at a time, and
/// written atomically. A damaged or truncated file is an <see cref="InvalidDataException"/>
/// naming the file, raised when the damage is reached.
/// </summary>
public static class ArrowIpcFile
{
    /// <summary>The file's record batches, in order, read lazily; each batch belongs to the caller.</summary>
    public static IEnumerable<RecordBatch> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArrowFileReader reader;
        try { reader = ArrowFileReader.FromFile(path); }
        catch (Exception e) when (IsFormatError(e)) { throw Damaged(path, e); }
        using (reader)
        {
            while (true)
            {
                RecordBatch? batch;
                try { batch = reader.ReadNextRecordBatch(); }
                catch (Exception e) when (IsFormatError(e)) { throw Damaged(path, e); }
                if (batch is null) yield break;
                yield return batch;
            }
        }
    }

    /// <summary>Writes <paramref name="batches"/> (all of one schema) to <paramref name="path"/>, atomically.</summary>
    public static void Write(string path, Schema schema, IEnumerable<RecordBatch> batches)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(batches);
        AtomicFile.Write(path, stream =>
        {
            using var writer = new ArrowFileWriter(stream, schema, leaveOpen: true);
            foreach (var batch in batches) writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        });
    }

    static bool IsFormatError(Exception e) =>
        e is InvalidDataException or EndOfStreamException or ArgumentException or InvalidOperationException
            or OverflowException or IndexOutOfRangeException or FormatException or IOException;

    static InvalidDataException Damaged(string path, Exception e) =>
        new($"{path} is not a readable Arrow IPC file: {e.Message}", e);
}
