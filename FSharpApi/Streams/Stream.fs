namespace Functional.FSharp

open System
open Apache.Arrow
open TorchSharp
open Functional.Streams
open Functional.Streams.Tables
open Functional.Streams.Training

/// Data pipelines that read as pipelines:
/// `Stream.ofArrowIpc path |> Stream.shuffle 10_000 |> Stream.batch 128 |> Stream.prefetch 4`
/// (Parquet files: `ParquetStreams.Parquet path`, package Functional.Streams.Parquet).
/// Each function returns a new stream (see `Functional.Streams.DataStream` for what each stage
/// does, its memory bound and its determinism); the C# surface has the same operators as methods.
[<RequireQualifiedAccess>]
module Stream =
    // Sources
    /// The rows of an Arrow IPC file.
    let ofArrowIpc (path: string) : DataStream<Row> = DataStream.ArrowIpc path
    /// The record batches of an Arrow IPC file.
    let ofArrowIpcBatches (path: string) : DataStream<RecordBatch> = DataStream.ArrowIpcBatches path
    /// The rows of a CSV file with a header, columns typed by inference.
    let ofCsv (path: string) : DataStream<Row> = DataStream.Csv path
    /// The rows of a CSV file as record batches.
    let ofCsvBatches (path: string) : DataStream<RecordBatch> = DataStream.CsvBatches path

    /// The rows of a CSV file laid out as `options` say (no header, names, lines to skip,
    /// delimiter, quote, selected columns, types, defaults; gzip for ".gz").
    let ofCsvWith (options: CsvOptions) (path: string) : DataStream<Row> = DataStream.Csv(path, options)

    /// The records of TFRecord files (compression by each file's name), file after file (see
    /// `DataStream.TfRecords` for reading several at once, interleaved).
    let ofTfRecords (paths: string list) : DataStream<byte[]> =
        DataStream.TfRecords(List.toArray paths)

    /// tf.train.Examples from TFRecord files as record batches of 1024 rows, one column per
    /// described feature (tf.io.parse_example's feature description), file after file.
    let ofTfRecordExamples (features: Records.TfFeatureSpec list) (paths: string list) : DataStream<RecordBatch> =
        DataStream.TfRecordExamples(List.toArray paths, List.toArray features)

    /// tf.train.SequenceExamples from TFRecord files: a column per context feature and a list
    /// column (one element per step) per sequence feature.
    let ofTfRecordSequenceExamples
        (context: Records.TfFeatureSpec list)
        (sequence: Records.TfFeatureSpec list)
        (paths: string list)
        : DataStream<RecordBatch> =
        DataStream.TfRecordSequenceExamples(List.toArray paths, List.toArray context, List.toArray sequence)

    /// The rows of an ADO.NET query as record batches of 8192 rows, typed from the reader's
    /// schema; `connect` gives a connection for each run (opened if closed, disposed after).
    let ofDatabase (connect: unit -> System.Data.Common.DbConnection) (query: string) : DataStream<RecordBatch> =
        DataStream.FromDatabase(Func<_>(connect), query)

    /// The lines of a text file.
    let ofTextLines (path: string) : DataStream<string> = DataStream.TextLines path
    /// The values of a sequence (enumerated again each run).
    let ofSeq (values: 'T seq) : DataStream<'T> = DataStream.FromValues values

    /// The elements a generator function yields, called once per run.
    let ofGenerator (generate: unit -> 'T seq) : DataStream<'T> =
        DataStream.FromGenerator(Func<_>(generate))

    /// In-memory tensors as record batches of 1024 rows, one column per (name, tensor).
    let ofTensors (columns: (string * torch.Tensor) list) : DataStream<RecordBatch> =
        DataStream.FromTensors(readOnlyDict columns)

    /// A folder of images (one sub-folder per class) as (image [c; h; w], label) pairs.
    let ofImageFolder (root: string) (width: int) (height: int) (channels: int) =
        DataStream.ImageFolder(root, width, height, channels)

    /// Image file paths decoded to float32 tensors [channels; height; width] in [0, 1], files
    /// decoded in parallel (in order); a file that does not decode fails the stream.
    let decodeImages (width: int) (height: int) (channels: int) (paths: DataStream<string>) : DataStream<torch.Tensor> =
        paths.DecodeImages(width, height, channels)

    /// Images augmented as `augmentation` says, drawn from (seed, epoch, element): reproducible,
    /// and new draws each epoch.
    let augment (augmentation: Functional.Images.ImageAugmentation) (seed: uint64) (images: DataStream<torch.Tensor>) =
        images.Augment(augmentation, seed)

    /// A live observable, buffering up to `capacity` elements with the given overflow policy.
    let ofObservable (capacity: int) (policy: OverflowPolicy) (source: IObservable<'T>) : DataStream<'T> =
        DataStream.FromObservable(source, capacity, policy)

    // Operators
    /// Each record batch's rows, one element per row (tables from files are rows already).
    let rows (stream: DataStream<RecordBatch>) : DataStream<Row> = stream.Rows()
    /// Applies a function to every element, in order.
    let map (f: 'T -> 'U) (stream: DataStream<'T>) : DataStream<'U> = stream.Map(Func<_, _>(f))

    /// Applies a function to `degree` elements at once (Parallelism.Auto: one per core), keeping the order.
    let mapParallel (degree: int) (f: 'T -> 'U) (stream: DataStream<'T>) : DataStream<'U> =
        stream.Map(Func<_, _>(f), degree, true)

    /// Like mapParallel, passing results on as they finish (not deterministic).
    let mapUnordered (degree: int) (f: 'T -> 'U) (stream: DataStream<'T>) : DataStream<'U> =
        stream.Map(Func<_, _>(f), degree, false)

    /// Keeps the elements for which the predicate holds.
    let filter (predicate: 'T -> bool) (stream: DataStream<'T>) : DataStream<'T> = stream.Filter(Func<_, _>(predicate))
    /// Shuffles through a buffer of `bufferSize` elements, seed 0, a new order each epoch.
    let shuffle (bufferSize: int) (stream: DataStream<'T>) : DataStream<'T> = stream.Shuffle(bufferSize)

    /// Shuffles with an explicit seed.
    let shuffleWith (seed: uint64) (bufferSize: int) (stream: DataStream<'T>) : DataStream<'T> =
        stream.Shuffle(bufferSize, seed)

    /// Arrays of `size` consecutive elements (the last may be smaller).
    let batch (size: int) (stream: DataStream<'T>) : DataStream<'T[]> = stream.Batch(size)
    /// The elements of each array.
    let unbatch (stream: DataStream<'T[]>) : DataStream<'T> = stream.Unbatch()

    /// Tensors of different lengths padded to the batch's largest shape and stacked.
    let paddedBatch (size: int) (padValue: float) (stream: DataStream<torch.Tensor>) =
        stream.PaddedBatch(size, padValue)

    /// Runs the stages before it on a background thread, up to `count` elements ahead.
    let prefetch (count: int) (stream: DataStream<'T>) : DataStream<'T> = stream.Prefetch count
    /// Keeps the first complete run in memory and replays it.
    let cache (stream: DataStream<'T>) : DataStream<'T> = stream.Cache()
    /// Caches record batches in an Arrow IPC file, replayed in later runs.
    let cacheToFile (path: string) (stream: DataStream<RecordBatch>) = stream.CacheToFile path
    /// The stream `count` times over.
    let repeat (count: int) (stream: DataStream<'T>) : DataStream<'T> = stream.Repeat(Nullable count)
    /// The first `count` elements.
    let take (count: int64) (stream: DataStream<'T>) : DataStream<'T> = stream.Take count
    /// Every element after the first `count`.
    let skip (count: int64) (stream: DataStream<'T>) : DataStream<'T> = stream.Skip count
    /// Pairs from two streams, until either ends.
    let zip (other: DataStream<'U>) (stream: DataStream<'T>) : DataStream<struct ('T * 'U)> = stream.Zip other
    /// This stream, then another.
    let concat (other: DataStream<'T>) (stream: DataStream<'T>) : DataStream<'T> = stream.Concat other

    /// Sliding windows of `size` elements, one every `shift`.
    let window (size: int) (shift: int) (stream: DataStream<'T>) : DataStream<'T[]> =
        stream.Window(size, Nullable shift)

    /// The elements arriving in each period (for live sources).
    let windowByTime (span: TimeSpan) (stream: DataStream<'T>) : DataStream<'T[]> = stream.WindowByTime span
    /// Shard `index` of `count`: every count-th element from index.
    let shard (count: int) (index: int) (stream: DataStream<'T>) : DataStream<'T> = stream.Shard(count, index)

    /// This rank's shard in data-parallel training (`Communicator.World` under mpirun; everything in one process).
    let shardFor (ranks: Functional.Distributed.Communicator) (stream: DataStream<'T>) : DataStream<'T> =
        stream.Shard(ranks)

    /// Batches of rows as one tensor per column.
    let toTensors (columns: string list) (stream: DataStream<Row[]>) = stream.ToTensors(List.toArray columns)

    /// Batches of rows as (inputs, targets) for Fit; inputs reshaped and prepared.
    let toTrainingBatches
        (inputColumn: string)
        (targetColumn: string)
        (inputShape: int64[])
        (prepare: torch.Tensor -> torch.Tensor)
        (stream: DataStream<Row[]>)
        =
        stream.ToTensors(inputColumn, targetColumn, inputShape, Func<_, _>(prepare))

    /// The stream as Fit's data (one element per step).
    let toBatchSource (stream: DataStream<struct (torch.Tensor * torch.Tensor)>) = stream.ToBatchSource()
    /// The elements of one run, as a list.
    let toList (stream: DataStream<'T>) : 'T list = stream.Enumerate() |> List.ofSeq

    /// The element type, the first element as text and every stage's counters in the latest run
    /// (printing a stream itself, `%A` or `string`, shows its stages and first elements).
    let describe (stream: DataStream<'T>) : StreamDescription = stream.Describe()

    /// The counters of every stage, sources first.
    let stages (stream: DataStream<'T>) =
        stream.Stages |> Seq.map (fun s -> s.Snapshot()) |> List.ofSeq
