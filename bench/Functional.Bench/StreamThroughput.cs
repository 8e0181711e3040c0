using System.Diagnostics;
using System.Security.Cryptography;
using Apache.Arrow;
using Functional.Diagnostics;
using Functional.Streams;
using Functional.Streams.Columns;
using Functional.Streams.Tables;
using ParquetSharp.Arrow;
using TorchSharp;

namespace Functional.Bench;

/// <summary>
/// The data pipeline against ParquetSharp alone, same file, same run, alternating rounds:
/// a multi-GB Parquet file of MNIST-shaped rows (784 random bytes + an int64 label) read
/// into shuffled tensor batches (rows, shuffle 10,000, batch 128, to tensors, prefetch 4)
/// versus read into record batches with ParquetSharp's Arrow reader and nothing else. The
/// stream's peak resident memory is measured in a child process of its own. Parallel map:
/// a CPU-bound function (hashing) sequentially versus on every core, ordered.
/// </summary>
static class StreamThroughput
{
    const int RowBytes = 784;

    public static void Run()
    {
        double gigabytes = double.TryParse(Environment.GetEnvironmentVariable("FUNCTIONAL_BENCH_STREAM_GB"), out var gb) ? gb : 2.0;
        var path = Path.Combine(Path.GetTempPath(), $"functional-stream-bench-{Guid.NewGuid():N}.parquet");
        try
        {
            long rows = Write(path, gigabytes);
            Console.WriteLine($"file: {rows:N0} rows, {new FileInfo(path).Length / 1e9:F2} GB");
            var raw = new List<double>();
            var stream = new List<double>();
            for (int round = 0; round < 3; round++)
            {
                raw.Add(rows / Measure.Seconds(() => ReadRaw(path)));
                stream.Add(rows / Measure.Seconds(() => ReadStream(path)));
                Console.WriteLine($"round {round + 1}: raw {raw[^1] / 1e6:F2} M rows/s, stream {stream[^1] / 1e6:F2} M rows/s");
            }
            var child = ChildProcess.Run(null, "streams-child", path);
            double speedup = ParallelMapSpeedup();
            Console.WriteLine($"raw_rows_per_s={Measure.Median(raw):F0}");
            Console.WriteLine($"stream_rows_per_s={Measure.Median(stream):F0}");
            Console.WriteLine($"parquet_stream_vs_raw={Measure.Median(stream) / Measure.Median(raw):F2}");
            Console.WriteLine($"parallel_map_speedup={speedup:F2}");
            Console.WriteLine($"file_gb={new FileInfo(path).Length / 1e9:F2}");
            Console.WriteLine($"peak_rss_mb={child["peak_rss_mb"]:F0}");
            Console.WriteLine($"peak_row_batch_mb={child["peak_row_batch_mb"]:F1}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>One streamed pass in a fresh process: its peak resident memory is the pipeline's.</summary>
    public static void RunChild(string[] args)
    {
        ReadStream(args[0]);
        Console.WriteLine($"peak_rss_mb={ProcessMemory.PeakResidentMb():F0}");
        Console.WriteLine($"peak_row_batch_mb={RowBatchMemory.PeakBytes / 1e6:F1}");
    }

    static long Write(string path, double gigabytes)
    {
        long rows = (long)(gigabytes * 1e9 / (RowBytes + 8));
        const int chunk = 65_536;
        var schema = new Schema([
            new Field("image", new Apache.Arrow.Types.FixedSizeListType(new Field("item", Apache.Arrow.Types.UInt8Type.Default, false), RowBytes), false),
            new Field("label", Apache.Arrow.Types.Int64Type.Default, false)], null);
        using var properties = new ArrowWriterPropertiesBuilder().StoreSchema().Build();
        using var writer = new FileWriter(path, schema, arrowProperties: properties);
        using var generator = new torch.Generator(1);
        for (long start = 0; start < rows; start += chunk)
        {
            using var scope = torch.NewDisposeScope();
            long length = Math.Min(chunk, rows - start);
            var images = torch.randint(0, 256, [length, RowBytes], torch.uint8, generator: generator);
            var labels = torch.randint(0, 10, [length], torch.int64, generator: generator);
            foreach (var batch in TensorColumns.ToRecordBatches(new Dictionary<string, torch.Tensor> { ["image"] = images, ["label"] = labels }, chunk))
                using (batch) writer.WriteRecordBatch(batch);
        }
        writer.Close();
        return rows;
    }

    /// <summary>
    /// The anchor: ParquetSharp's Arrow reader, record batches disposed as they come. One reader
    /// per row group, as the stream does (one reader for the whole file holds what it decoded
    /// until it is disposed).
    /// </summary>
    static void ReadRaw(string path)
    {
        using var properties = ArrowReaderProperties.GetDefault();
        properties.BatchSize = 8192;
        using var file = new FileReader(path, arrowProperties: properties);
        for (int group = 0; group < file.NumRowGroups; group++)
        {
            using var reader = file.GetRecordBatchReader(rowGroups: [group]);
            while (reader.ReadNextRecordBatchAsync().AsTask().GetAwaiter().GetResult() is { } batch) batch.Dispose();
        }
    }

    /// <summary>The pipeline, to shuffled tensor batches; the consumer disposes them.</summary>
    static void ReadStream(string path)
    {
        var pipeline = DataStream.Parquet(path).Shuffle(10_000, seed: 1).Batch(128).ToTensors(["image", "label"]).Prefetch(4);
        foreach (var tensors in pipeline.Enumerate())
            foreach (var t in tensors) t.Dispose();
    }

    /// <summary>Throughput of a CPU-bound map on every core over one core, same elements.</summary>
    static double ParallelMapSpeedup()
    {
        var inputs = Enumerable.Range(0, 400).Select(i => Enumerable.Repeat((byte)i, 1 << 18).ToArray()).ToArray();
        static byte[] Work(byte[] data)
        {
            var hash = data;
            for (int i = 0; i < 8; i++) hash = SHA256.HashData(data.AsSpan(0, data.Length - i));
            return hash;
        }
        double Time(int parallelism) => Measure.Seconds(() =>
        {
            foreach (var _ in DataStream.FromValues(inputs).Map(Work, parallelism).Enumerate()) { }
        });
        Time(1);
        var sequential = new List<double>();
        var parallel = new List<double>();
        for (int round = 0; round < 3; round++)
        {
            sequential.Add(Time(1));
            parallel.Add(Time(Parallelism.Auto));
        }
        return Measure.Median(sequential) / Measure.Median(parallel);
    }
}
