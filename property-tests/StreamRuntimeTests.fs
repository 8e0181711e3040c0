/// Streams at run time: back-pressure and bounded memory, live sources and their overflow
/// policies, errors that name their origin, cancellation, Rx, and Fit fed by a stream.
module Functional.PropertyTests.StreamRuntimeTests

open System
open System.IO
open System.Reactive.Linq
open System.Reactive.Subjects
open System.Threading
open System.Threading.Tasks
open Expecto
open TorchSharp
open Functional.Datasets
open Functional.Training
open Functional.Streams
open Functional.Streams.Columns
open Functional.Streams.Tables
open Functional.Streams.Training
open Functional.FSharp
open Support
open StreamSourceTests

/// An element that counts its disposals.
type private Counted(id: int, disposed: int ref) =
    member _.Id = id

    interface IDisposable with
        member _.Dispose() =
            Interlocked.Increment(&disposed.contents) |> ignore

/// Takes up to `limit` elements of an async sequence (blocking; tests only), then disposes the enumerator.
let private takeAsync (limit: int) (sequence: Collections.Generic.IAsyncEnumerable<'T>) =
    let e = sequence.GetAsyncEnumerator()
    let taken = ResizeArray<'T>()

    try
        while taken.Count < limit && e.MoveNextAsync().AsTask().Result do
            taken.Add e.Current

        List.ofSeq taken
    finally
        e.DisposeAsync().AsTask().Wait()

let tests =
    testSequenced
    <| testList
        "stream runtime"
        [
            testCase "counters belong to a run: a second run counts afresh, and each stage of the pipeline has its own"
            <| fun () ->
                let pipeline =
                    DataStream.FromValues([ 1..10 ]).Filter(fun x -> x % 2 = 0).Map(fun x -> x * 10)

                Expect.equal (pipeline.Stats.Snapshot().Elements) 0L "nothing before the first run"
                pipeline.ToList(0) |> ignore
                pipeline.ToList(1) |> ignore
                let counts = [ for stage in pipeline.Stages -> stage.Snapshot().Elements ]
                Expect.equal counts [ 10L; 5L; 5L ] "the latest run's counts, not the sum of two"

            testCase "disposing a cached stream releases what the cache holds; it cannot run again"
            <| fun () ->
                let rows = 64L * 1024L * 1024L / 4L // 64 MB per tensor

                let source =
                    DataStream.FromGenerator(fun () -> seq { for _ in 1..4 -> torch.ones (rows) })

                let cached = source.Cache()

                for t in cached.Enumerate() do
                    t.Dispose() // the consumer frees its copies; the cache keeps 256 MB

                GC.Collect()
                // Bytes the C heap has handed out: freed memory leaves it at once, whether or not
                // glibc gives the pages back to the system (resident memory says that instead).
                let inUseMb () =
                    match Functional.Diagnostics.NativeHeap.InUseBytes() |> Option.ofNullable with
                    | Some bytes -> float bytes / 1048576.0
                    | None -> Functional.Diagnostics.ProcessMemory.ResidentMb()

                let held = inUseMb ()
                cached.Dispose()
                let released = inUseMb ()

                Expect.isGreaterThan
                    (held - released)
                    200.0
                    $"the cached tensors were freed ({held:F0} MB -> {released:F0} MB)"

                Expect.throwsT<ObjectDisposedException>
                    (fun () -> cached.ToList(0) |> ignore)
                    "a disposed stream does not run"

                Expect.throwsT<ObjectDisposedException>
                    (fun () -> source.ToList(0) |> ignore)
                    "nor do the stages it read"

            testCase "a slow consumer of a Parquet file ten times the bound keeps row memory under the bound"
            <| fun () ->
                within 120.0 (fun () ->
                    withFolder (fun folder ->
                        let path = Path.Combine(folder, "big.parquet")
                        let rows, rowBytes = 24_000L, 1024L
                        // Random bytes: Parquet cannot compress them, so the file is as big as the data.
                        let batches =
                            seq {
                                for start in 0L .. 4000L .. rows - 1L do
                                    use g = new torch.Generator(uint64 start)

                                    let x =
                                        torch.randint (
                                            0L,
                                            256L,
                                            [| 4000L; rowBytes |],
                                            dtype = torch.uint8,
                                            generator = g
                                        )

                                    let y =
                                        torch.arange (
                                            start.ToScalar(),
                                            (start + 4000L).ToScalar(),
                                            dtype = torch.int64
                                        )

                                    yield! TensorColumns.ToRecordBatches(readOnlyDict [ "x", x; "y", y ], 4000)
                            }

                        writeParquet path batches
                        let shuffleRows, readRows, batchRows, prefetch = 200, 128, 32, 2
                        // What the pipeline may hold: the shuffle buffer (its rows' record batches are
                        // compacted when they hold more than twice the rows), the batch being filled,
                        // and the record batches read ahead.
                        let bound = rowBytes * int64 (3 * shuffleRows + batchRows + (3 + 3) * readRows)
                        let dataBytes = rows * rowBytes
                        Expect.isGreaterThan dataBytes (10L * bound) "the file is more than ten times the bound"
                        RowBatchMemory.ResetPeak()

                        let pipeline =
                            ParquetStreams.Parquet(path, batchRows = readRows, readAhead = 3)
                            |> Stream.shuffleWith 1UL shuffleRows
                            |> Stream.batch batchRows
                            |> Stream.toTensors [ "x"; "y" ]
                            |> Stream.prefetch prefetch

                        let labels = ResizeArray()

                        for tensors in pipeline.Enumerate() do
                            labels.AddRange(tensors.[1].data<int64>().ToArray())

                            for t in tensors do
                                t.Dispose()

                            Thread.Sleep 1 // a slow consumer

                        Expect.equal
                            (Seq.sort labels |> List.ofSeq)
                            [ 0L .. rows - 1L ]
                            "every row arrived once (the compacted shuffle buffer included)"

                        Expect.isLessThanOrEqual
                            RowBatchMemory.PeakBytes
                            bound
                            $"peak {RowBatchMemory.PeakBytes / 1000L} kB <= bound {bound / 1000L} kB"

                        Expect.equal RowBatchMemory.LiveBytes 0L "everything released at the end"))

            testCase "an exception in a map function names the file and row it came from"
            <| fun () ->
                withFolder (fun folder ->
                    let path = Path.Combine(folder, "rows.parquet")
                    writeParquet path (numbered 300L 2L 100)

                    let failing (row: Row) =
                        if row.Get<int64> "y" = 237L then
                            failwith "bad value"
                        else
                            row.Get<int64> "y"

                    for parallelism in [ 1; 3 ] do
                        let e =
                            catchError<StreamException>(fun () ->
                                ParquetStreams.Parquet(path)
                                |> Stream.mapParallel parallelism failing
                                |> Stream.toList
                                |> ignore)

                        Expect.stringContains e.Message path "names the file"
                        Expect.stringContains e.Message "row 237" "names the row"
                        Expect.stringContains e.Message "bad value" "says what went wrong"
                        Expect.equal e.Origin (Nullable(Origin(path, 237L))) "the origin, as data"

                    Expect.equal RowBatchMemory.LiveBytes 0L "rows released after the failure")

            testCase "stopping early cancels every stage and releases what they hold"
            <| fun () ->
                within 30.0 (fun () ->
                    let produced = ref 0

                    let source =
                        Stream.ofGenerator (fun () ->
                            Seq.initInfinite (fun i ->
                                Interlocked.Increment produced |> ignore
                                i))

                    let pipeline =
                        source
                        |> Stream.prefetch 8
                        |> Stream.mapParallel 2 (fun x -> x + 1)
                        |> Stream.shuffle 16
                        |> Stream.prefetch 4

                    let firstTen = pipeline.Enumerate() |> Seq.take 10 |> List.ofSeq
                    Expect.equal firstTen.Length 10 "took ten"
                    let after = produced.Value
                    Thread.Sleep 100
                    Expect.equal produced.Value after "nothing runs after the consumer stopped"
                    Expect.isLessThan after 200 "the source ran only a bounded distance ahead"
                    use cancel = new CancellationTokenSource()

                    let running =
                        Task.Run(fun () ->
                            for _ in pipeline.Enumerate(0, cancel.Token) do
                                Thread.Sleep 1)

                    Thread.Sleep 50
                    cancel.Cancel()
                    let e = catchError<AggregateException>(fun () -> running.Wait())
                    Expect.isTrue (e.InnerException :? OperationCanceledException) "cancellation ends the run")

            testCase "live sources: block waits, drop-oldest and drop-newest count what they drop, fail fails"
            <| fun () ->
                within 60.0 (fun () ->
                    let run (policy: OverflowPolicy) =
                        use subject = new Subject<int>()
                        let live = DataStream.FromObservable(subject, 4, policy)
                        use started = new ManualResetEventSlim()

                        let consumer =
                            Task.Run(fun () ->
                                use e = live.Enumerate().GetEnumerator()
                                started.Set()

                                [
                                    while e.MoveNext() do
                                        Thread.Sleep 2
                                        yield e.Current
                                ])

                        started.Wait()
                        Thread.Sleep 50 // the run has subscribed

                        let producer =
                            Task.Run(fun () ->
                                (for i in 0..99 do
                                    subject.OnNext i)

                                subject.OnCompleted())

                        producer.Wait()
                        consumer, live.Stats.Snapshot().Dropped

                    let blocked, droppedBlock = run OverflowPolicy.Block
                    Expect.equal blocked.Result [ 0..99 ] "block: every element, in order"
                    Expect.equal droppedBlock 0L "block drops nothing"
                    let oldest, droppedOldest = run OverflowPolicy.DropOldest
                    let kept = oldest.Result
                    Expect.isGreaterThan droppedOldest 0L "drop-oldest dropped some"
                    Expect.equal (int64 kept.Length + droppedOldest) 100L "kept + dropped = produced"
                    Expect.equal (List.last kept) 99 "drop-oldest keeps the newest"
                    let newest, droppedNewest = run OverflowPolicy.DropNewest
                    Expect.equal (int64 newest.Result.Length + droppedNewest) 100L "kept + dropped = produced"
                    Expect.equal (List.take 4 newest.Result) [ 0..3 ] "drop-newest keeps what was buffered"
                    let failed, _ = run OverflowPolicy.Fail
                    let e = catchError<AggregateException>(fun () -> failed.Wait())
                    Expect.stringContains e.InnerException.Message "overflowed" "says the buffer overflowed")

            testCase "a live source's error ends the run; windows by time group what arrives"
            <| fun () ->
                within 30.0 (fun () ->
                    let ticks = Observable.Interval(TimeSpan.FromMilliseconds 5.0).Take(40)

                    let windows =
                        DataStream.FromObservable(ticks, 64)
                        |> Stream.windowByTime (TimeSpan.FromMilliseconds 50.0)
                        |> Stream.toList

                    Expect.equal (windows |> Array.concat |> List.ofArray) [ 0L .. 39L ] "every tick, in order"
                    Expect.isGreaterThan windows.Length 1 "in several windows"
                    let failing = Observable.Throw<int>(InvalidOperationException "sensor unplugged")

                    expectThrowsWith<StreamException> [ "sensor unplugged" ] (fun () ->
                        DataStream.FromObservable(failing) |> Stream.toList |> ignore))

            testCase
                "every stream is an observable: Rx operators compose and back-pressure holds for synchronous observers"
            <| fun () ->
                within 30.0 (fun () ->
                    let squares =
                        (Stream.ofSeq [ 1..10 ]).Where(fun x -> x % 2 = 0).Select(fun x -> x * x).ToList().Wait()

                    Expect.equal (List.ofSeq squares) [ 4; 16; 36; 64; 100 ] "Rx over a stream"

                    let back =
                        DataStream.FromObservable((Stream.ofSeq [ 1..50 ]).Select(fun x -> x + 1), 2)
                        |> Stream.toList

                    Expect.equal back [ 2..51 ] "and back into a stream")

            testCase "stage counters: elements, bytes, waits"
            <| fun () ->
                let pipeline =
                    Stream.ofTensors [ "x", torch.zeros (1000L, 16L) ]
                    |> Stream.rows
                    |> Stream.batch 100
                    |> Stream.toTensors [ "x" ]
                    |> Stream.prefetch 2

                for ts in pipeline.Enumerate() do
                    for t in ts do
                        t.Dispose()

                let stages = Stream.stages pipeline

                Expect.equal
                    [ for s in stages -> s.Name ]
                    [ "tensors"; "rows"; "batch(100)"; "to tensors(x)"; "prefetch(2)" ]
                    "every stage, sources first"

                let rows = stages.[1]
                Expect.equal rows.Elements 1000L "one element per row"
                Expect.equal stages.[4].Elements 10L "ten batches"
                Expect.equal stages.[4].Bytes (1000L * 16L * 4L) "bytes of the tensors"

                Expect.isTrue
                    (stages
                     |> List.forall (fun s -> s.Busy >= TimeSpan.Zero && s.WaitingUpstream >= TimeSpan.Zero))
                    "times are measured"

            testCase "Fit trains from a Parquet stream and reports its input wait"
            <| fun () ->
                withFolder (fun folder ->
                    scoped (fun () ->
                        let struct (images, labels) = Mnist.Load()

                        let pixels =
                            (images.narrow (0L, 0L, 4000L) * 255.0f).round().to_type(torch.uint8).reshape(-1L, 784L)

                        let path = Path.Combine(folder, "mnist.parquet")

                        writeParquet
                            path
                            (TensorColumns.ToRecordBatches(
                                readOnlyDict [ "image", pixels; "label", labels.narrow (0L, 0L, 4000L) ],
                                1000
                            ))

                        let train =
                            ParquetStreams.Parquet(path)
                            |> Stream.shuffleWith 1UL 4000
                            |> Stream.batch 64
                            |> Stream.toTrainingBatches "image" "label" [| 1L; 28L; 28L |] (fun raw ->
                                raw.to_type (torch.float32) / 255.0f)
                            |> Stream.prefetch 4

                        use model = digitModel ()

                        let history =
                            model.Fit(
                                Stream.toBatchSource train,
                                FitOptions(Verbosity = Verbosity.Silent, Epochs = 2)
                            )

                        Expect.equal history.StepTimes.[0].Steps 63L "ceil(4000 / 64) steps per epoch"
                        let share = history.StepTimes.[1].InputWaitShare
                        Expect.isTrue (share >= 0.0 && share < 1.0) $"input wait share is a fraction ({share})"
                        expectLearnsDigits model images labels "learns from the stream"
                        Expect.equal RowBatchMemory.LiveBytes 0L "every row released"))

            testCase
                "await foreach over a stream: the same elements; leaving early releases what was not taken; errors and cancellation arrive"
            <| fun () ->
                let stream = DataStream.FromValues([ 1..200 ]).Map(fun x -> x * 2)

                Expect.sequenceEqual
                    (takeAsync Int32.MaxValue (stream.EnumerateAsync()))
                    (List.ofSeq (stream.Enumerate()))
                    "the same elements"

                let disposed = ref 0
                let produced = ref 0

                let counted =
                    DataStream.FromGenerator(fun () ->
                        seq {
                            for i in 1..1000 do
                                Interlocked.Increment(&produced.contents) |> ignore
                                yield new Counted(i, disposed)
                        })

                let taken = takeAsync 3 (counted.EnumerateAsync())
                Expect.equal (taken |> List.map (fun c -> c.Id)) [ 1; 2; 3 ] "the first three"
                Expect.isLessThanOrEqual produced.Value 6 "at most two elements ahead"
                Expect.equal disposed.Value (produced.Value - 3) "every element not taken was released"

                let failing =
                    DataStream.FromValues([ 1..10 ]).Map(fun x -> if x = 4 then failwith "bad row" else x)

                expectThrowsWith<StreamException> [ "bad row" ] (fun () ->
                    try
                        takeAsync 100 (failing.EnumerateAsync()) |> ignore
                    with :? AggregateException as e ->
                        raise e.InnerException)

                use cancel = new CancellationTokenSource()
                cancel.Cancel()

                expectThrowsWith<OperationCanceledException> [] (fun () ->
                    try
                        takeAsync 100 (stream.EnumerateAsync(0, cancel.Token)) |> ignore
                    with :? AggregateException as e ->
                        raise e.InnerException)
        ]
