using Apache.Arrow;
using ParquetSharp;
using ParquetSharp.Arrow;
using Functional.Streams.Sources;
using Functional.Streams.Tables;

namespace Functional.Streams;

/// <summary>
/// Parquet sources for <see cref="DataStream"/>: in C#, <c>DataStream.Parquet(path)</c> and
/// <c>DataStream.ParquetBatches(path)</c> (extension members); in F#, <c>ParquetStreams.Parquet path</c>.
/// A package of its own because ParquetSharp brings native libraries.
/// </summary>
public static class ParquetStreams
{
    extension(DataStream)
    {
        /// <summary>
        /// The rows of a Parquet file (<see cref="ParquetBatches(string, int, int)"/>, one element per
        /// row): what shuffle, filter and batch work on, as in tf.data.
        /// </summary>
        /// <example><c>DataStream.Parquet("train.parquet").Shuffle(10_000, seed: 1).Batch(128).ToTensors("image", "label").Prefetch(4)</c></example>
        public static DataStream<Row> Parquet(string path, int batchRows = 8192, int readAhead = 2) =>
            ParquetBatches(path, batchRows, readAhead).Rows();

        /// <summary>The rows of several Parquet files (see <see cref="ParquetBatches(IReadOnlyList{string}, int, int)"/>).</summary>
        public static DataStream<Row> Parquet(IReadOnlyList<string> paths, int cycleLength = 2, int batchRows = 8192) =>
            ParquetBatches(paths, cycleLength, batchRows).Rows();

        /// <summary>
        /// The record batches of a Parquet file, <paramref name="batchRows"/> rows each, read with
        /// ParquetSharp's Arrow reader (no per-value conversion). The file is read
        /// <paramref name="readAhead"/> batches ahead on its own thread (0: on the consumer's thread)
        /// and never faster than the consumer takes them. A missing or damaged file is an error
        /// naming it.
        /// </summary>
        public static DataStream<RecordBatch> ParquetBatches(string path, int batchRows = 8192, int readAhead = 2)
        {
            ArgumentNullException.ThrowIfNull(path);
            if (batchRows < 1) throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, "A batch needs at least 1 row.");
            if (readAhead < 0) throw new ArgumentOutOfRangeException(nameof(readAhead), readAhead, "Read-ahead cannot be negative.");
            var file = DataStream.FromSource($"parquet({Path.GetFileName(path)})", token => ReadParquet(path, batchRows, token));
            return readAhead > 0 ? file.Prefetch(readAhead) : file;
        }

        /// <summary>
        /// The record batches of several Parquet files (e.g. <see cref="DataStream.Glob"/>'s), read
        /// <paramref name="cycleLength"/> files at a time in parallel and interleaved batch by batch
        /// (see <see cref="DataStream.Interleave{T}"/>); the order does not depend on timing.
        /// </summary>
        public static DataStream<RecordBatch> ParquetBatches(IReadOnlyList<string> paths, int cycleLength = 2, int batchRows = 8192)
        {
            ArgumentNullException.ThrowIfNull(paths);
            return DataStream.Interleave(paths.Select(p => ParquetBatches(p, batchRows, readAhead: 0)).ToArray(), cycleLength, parallel: true);
        }
    }

    static IEnumerable<(RecordBatch, Origin)> ReadParquet(string path, int batchRows, CancellationToken token)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"No Parquet file at '{path}'.", path);
        FileReader? file = null;
        IEnumerator<RecordBatch>? batches = null;
        try
        {
            try
            {
                using var properties = ArrowReaderProperties.GetDefault();
                properties.BatchSize = batchRows;
                // Pages written with a CRC (ours are) are checked: flipped bytes are damage, not values.
                using var readerProperties = ReaderProperties.GetDefaultReaderProperties();
                readerProperties.EnablePageChecksumVerification();
                file = new FileReader(path, readerProperties, properties);
                // Files we wrote carry a checksum of the whole file (the footer is not under the page CRCs).
                string? problem;
                using (var footer = new ParquetFileReader(path)) problem = FileChecksum.Verify(path, footer.FileMetaData.KeyValueMetadata);
                if (problem is not null) throw new InvalidDataException($"{path} is damaged: {problem}.");
                batches = ReadBatches(file, token).GetEnumerator();
            }
            catch (Exception e) when (IsReadError(e)) { throw DamagedParquet(path, 0, e); }
            long row = 0;
            while (true)
            {
                bool more;
                try { more = batches.MoveNext(); }
                catch (Exception e) when (IsReadError(e)) { throw DamagedParquet(path, row, e); }
                if (!more) yield break;
                yield return (batches.Current, new Origin(path, row));
                row += batches.Current.Length;
            }
        }
        finally
        {
            batches?.Dispose();
            file?.Dispose();
        }
    }

    /// <summary>
    /// Row group by row group, each with a reader of its own: one reader over the whole file
    /// keeps what it decoded until it is disposed (resident memory grew with the file's size).
    /// </summary>
    static IEnumerable<RecordBatch> ReadBatches(FileReader file, CancellationToken token)
    {
        for (int group = 0; group < file.NumRowGroups; group++)
        {
            using var reader = file.GetRecordBatchReader(rowGroups: [group]);
            while (reader.ReadNextRecordBatchAsync(token).AsTask().GetAwaiter().GetResult() is { } batch) yield return batch;
        }
    }

    /// <summary>What a damaged file raises: ParquetSharp's exceptions, and the bare
    /// <see cref="Exception"/> its Arrow reader throws for some damage ("IOError: Malformed levels").</summary>
    static bool IsReadError(Exception e) => e is not (OperationCanceledException or OutOfMemoryException or StreamException or InvalidDataException);

    static InvalidDataException DamagedParquet(string path, long row, Exception e) =>
        new($"{path} is not a readable Parquet file (at row {row}): {e.Message}", e);
}
