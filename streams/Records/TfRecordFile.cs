using System.Buffers.Binary;
using System.IO.Compression;
using Functional.Persistence;

namespace Functional.Streams.Records;

/// <summary>
/// TFRecord files: a sequence of records, each framed as its length (uint64, little-endian), the
/// masked CRC-32C of those 8 bytes, the record's bytes and their masked CRC-32C; the whole file
/// optionally gzip- or zlib-compressed. Both CRCs are checked on reading: a damaged or truncated
/// record is an <see cref="InvalidDataException"/> naming the file, the record's index and its
/// byte offset (in the uncompressed bytes). Records are usually serialized
/// <see cref="TfExample"/>s; see <see cref="DataStream.TfRecordExamples"/> for reading them as columns.
/// </summary>
public static partial class TfRecordFile
{
    const int HeaderBytes = 12, FooterBytes = 4;

    /// <summary>The records of <paramref name="path"/>, in order; compression by the file's name unless given
    /// (see <see cref="TfRecordCompressions.FromPath"/>).</summary>
    public static IEnumerable<byte[]> Read(string path, TfRecordCompression? compression = null) =>
        ReadSourced(path, compression).Select(record => record.Value);

    internal static IEnumerable<Sourced<byte[]>> ReadSourced(string path, TfRecordCompression? compression, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"No TFRecord file at '{path}'.", path);
        var kind = compression ?? TfRecordCompressions.FromPath(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var input = Decompressed(file, kind);
        string where = kind == TfRecordCompression.None ? "byte" : $"uncompressed ({kind}) byte";
        var header = new byte[HeaderBytes];
        var footer = new byte[FooterBytes];
        long offset = 0;
        for (long index = 0; ; index++)
        {
            cancellation.ThrowIfCancellationRequested();
            string At() => $"{path}, record {index} at {where} {offset}";
            int got = Fill(input, header, At);
            if (got == 0) yield break;
            if (got < HeaderBytes) throw new InvalidDataException($"{At()}: the file ends inside the record's header ({got} of {HeaderBytes} bytes).");
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8)) != MaskedCrc32C.Of(header.AsSpan(0, 8)))
                throw new InvalidDataException($"{At()}: the length's CRC does not match (a damaged file, or not a TFRecord file{CompressionHint(kind, header)}).");
            if (length > (ulong)Array.MaxLength - FooterBytes)
                throw new InvalidDataException($"{At()}: a record of {length} bytes is larger than this reader takes ({Array.MaxLength - FooterBytes}).");
            if (kind == TfRecordCompression.None && (long)length + FooterBytes > file.Length - file.Position)
                throw new InvalidDataException($"{At()}: the file ends inside the record ({length} bytes announced, {file.Length - file.Position} left).");
            var record = ReadRecord(input, (int)length, At);
            if (Fill(input, footer, At) < FooterBytes)
                throw new InvalidDataException($"{At()}: the file ends inside the record's CRC.");
            if (BinaryPrimitives.ReadUInt32LittleEndian(footer) != MaskedCrc32C.Of(record))
                throw new InvalidDataException($"{At()}: the data's CRC does not match (the record's {length} bytes are damaged).");
            yield return new(record, new Origin(path, index));
            offset += HeaderBytes + (long)length + FooterBytes;
        }
    }

    static string CompressionHint(TfRecordCompression kind, byte[] header) =>
        kind == TfRecordCompression.None && header[0] == 0x1f && header[1] == 0x8b ? "; it starts like a gzip file: read it with TfRecordCompression.Gzip" : "";

    static System.IO.Stream Decompressed(FileStream file, TfRecordCompression kind) => kind switch
    {
        TfRecordCompression.None => file,
        TfRecordCompression.Gzip => new GZipStream(file, CompressionMode.Decompress, leaveOpen: true),
        TfRecordCompression.Zlib => new ZLibStream(file, CompressionMode.Decompress, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown TFRecord compression."),
    };

    /// <summary>Reads up to <paramref name="buffer"/>'s length; fewer bytes only at the end of the input.</summary>
    static int Fill(System.IO.Stream input, Span<byte> buffer, Func<string> at)
    {
        int got = 0;
        try
        {
            while (got < buffer.Length)
            {
                int n = input.Read(buffer[got..]);
                if (n == 0) break;
                got += n;
            }
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{at()}: the compressed stream is damaged: {e.Message}", e);
        }
        return got;
    }

    /// <summary>A record's bytes, read in growing steps so a damaged length in a compressed file
    /// cannot make the reader allocate gigabytes before it sees the file end.</summary>
    static byte[] ReadRecord(System.IO.Stream input, int count, Func<string> at)
    {
        var record = new byte[Math.Min(count, 1 << 20)];
        int got = 0;
        while (true)
        {
            got += Fill(input, record.AsSpan(got), at);
            if (got == count) return record;
            if (got < record.Length)
                throw new InvalidDataException($"{at()}: the file ends inside the record ({count} bytes announced, {got} there).");
            Array.Resize(ref record, (int)Math.Min(count, 2L * record.Length));
        }
    }

    /// <summary>Writes <paramref name="records"/> to <paramref name="path"/>, atomically (readers see the old file or the whole new one).</summary>
    public static void Write(string path, IEnumerable<byte[]> records, TfRecordCompression? compression = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        using var writer = BeginWrite(path, compression);
        foreach (var record in records) writer.Write(record);
        writer.Commit();
    }

    /// <summary>Starts writing <paramref name="path"/> record by record; nothing appears there before
    /// <see cref="Writer.Commit"/>. Compression by the file's name unless given.</summary>
    public static Writer BeginWrite(string path, TfRecordCompression? compression = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new Writer(AtomicFile.Begin(path), compression ?? TfRecordCompressions.FromPath(path));
    }

    /// <summary>A TFRecord file being written.</summary>
    public sealed class Writer : IDisposable
    {
        readonly PendingFile file;
        readonly System.IO.Stream output;
        readonly byte[] header = new byte[HeaderBytes], footer = new byte[FooterBytes];
        bool committed;

        internal Writer(PendingFile file, TfRecordCompression compression)
        {
            this.file = file;
            output = compression switch
            {
                TfRecordCompression.None => file.Stream,
                TfRecordCompression.Gzip => new GZipStream(file.Stream, CompressionLevel.Optimal, leaveOpen: true),
                TfRecordCompression.Zlib => new ZLibStream(file.Stream, CompressionLevel.Optimal, leaveOpen: true),
                _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, "Unknown TFRecord compression."),
            };
        }

        /// <summary>Records written so far.</summary>
        public long Count { get; private set; }

        /// <summary>Appends one record.</summary>
        public void Write(ReadOnlySpan<byte> record)
        {
            ObjectDisposedException.ThrowIf(committed, this);
            BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)record.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), MaskedCrc32C.Of(header.AsSpan(0, 8)));
            BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc32C.Of(record));
            output.Write(header);
            output.Write(record);
            output.Write(footer);
            Count++;
        }

        /// <summary>Ends the file and moves it into place.</summary>
        public void Commit()
        {
            ObjectDisposedException.ThrowIf(committed, this);
            if (!ReferenceEquals(output, file.Stream)) output.Dispose();
            file.Commit();
            committed = true;
        }

        /// <summary>Without <see cref="Commit"/>, removes the partial file and leaves any previous one.</summary>
        public void Dispose()
        {
            if (!committed && !ReferenceEquals(output, file.Stream)) output.Dispose();
            file.Dispose();
        }
    }
}
