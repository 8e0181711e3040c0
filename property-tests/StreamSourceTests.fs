/// Stream sources (Parquet, Arrow IPC, CSV, images, text, tensors) and their errors.
module Functional.PropertyTests.StreamSourceTests

open System
open System.IO
open Expecto
open Apache.Arrow
open TorchSharp
open SixLabors.ImageSharp
open SixLabors.ImageSharp.PixelFormats
open Functional.Streams
open Functional.Streams.Columns
open Functional.Streams.Tables
open Functional.FSharp
open Support

/// A temporary folder, removed after `f`.
let withFolder (f: string -> unit) =
    let folder =
        Path.Combine(Path.GetTempPath(), $"functional-streams-{Guid.NewGuid():N}")

    Directory.CreateDirectory folder |> ignore

    try
        f folder
    finally
        Directory.Delete(folder, true)

/// Writes record batches to a Parquet file, keeping fixed-size lists as such (the Arrow schema is stored).
let writeParquet (path: string) (batches: RecordBatch seq) =
    Sources.ParquetFile.Write(path, batches)

/// `rows` rows of features x: float32[width] (row i holds i, i+1, ...) and label y = i, in batches of `batchRows`.
let numbered (rows: int64) (width: int64) (batchRows: int) =
    let x =
        torch.arange((rows * width).ToScalar(), dtype = torch.float32).reshape(rows, width)

    let y = torch.arange (rows.ToScalar(), dtype = torch.int64)
    TensorColumns.ToRecordBatches(readOnlyDict [ "x", x; "y", y ], batchRows)

let private labelsOf (batches: torch.Tensor[] list) =
    batches
    |> List.collect (fun ts -> ts.[1].data<int64>().ToArray() |> List.ofArray)

let tests =
    testList
        "stream sources"
        [
            testCase "tensors -> rows -> batches -> tensors gives the same values, in order"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.randn (100L, 3L, 4L)
                    let y = torch.arange (100L, dtype = torch.int64)

                    let out =
                        Stream.ofTensors [ "x", x; "y", y ]
                        |> Stream.rows
                        |> Stream.batch 7
                        |> Stream.toTensors [ "x"; "y" ]
                        |> Stream.toList

                    Expect.equal out.Length 15 "ceil(100 / 7) batches"
                    Expect.sequenceEqual out.[0].[0].shape [| 7L; 3L; 4L |] "rows keep their shape"
                    expectClose "x" 0.0 (torch.cat (out |> List.map (fun t -> t.[0]) |> Array.ofList)) x
                    expectClose "y" 0.0 (torch.cat (out |> List.map (fun t -> t.[1]) |> Array.ofList)) y
                    Expect.equal RowBatchMemory.LiveBytes 0L "every batch was released")

            testCase "Parquet -> shuffled tensor batches: every row once, reproducible, fixed-size lists kept"
            <| fun () ->
                withFolder (fun folder ->
                    scoped (fun () ->
                        let path = Path.Combine(folder, "numbers.parquet")
                        writeParquet path (numbered 1000L 5L 128)

                        let pipeline =
                            ParquetStreams.Parquet(path, batchRows = 100)
                            |> Stream.shuffleWith 3UL 250
                            |> Stream.batch 64
                            |> Stream.toTensors [ "x"; "y" ]
                            |> Stream.prefetch 2

                        let first = Stream.toList pipeline
                        let labels = labelsOf first
                        Expect.equal (List.sort labels) [ 0L .. 999L ] "every row once"
                        Expect.notEqual labels [ 0L .. 999L ] "shuffled"
                        Expect.equal (labelsOf (Stream.toList pipeline)) labels "same seed, same order"

                        for ts in first do
                            expectClose
                                "x row matches its label"
                                0.0
                                (ts.[0].select(1, 0L))
                                (ts.[1].to_type(torch.float32) * 5.0f)

                        Expect.equal RowBatchMemory.LiveBytes 0L "every batch was released"))

            testCase "several Parquet files are interleaved batch by batch"
            <| fun () ->
                withFolder (fun folder ->
                    scoped (fun () ->
                        for part in 0..2 do
                            let x = torch.full ([| 300L; 2L |], (float32 part).ToScalar())

                            let y =
                                torch.arange (
                                    (int64 part * 300L).ToScalar(),
                                    (int64 part * 300L + 300L).ToScalar(),
                                    dtype = torch.int64
                                )

                            let columns = readOnlyDict [ "x", x; "y", y ]

                            writeParquet
                                (Path.Combine(folder, $"part-{part}.parquet"))
                                (TensorColumns.ToRecordBatches(columns, 300))

                        let files = DataStream.Glob(Path.Combine(folder, "part-*.parquet"))
                        Expect.equal files.Count 3 "glob finds the parts"

                        let batches =
                            ParquetStreams.ParquetBatches(files, 2, 100)
                            |> Stream.map (fun b -> use b = b in (b.Column("y") :?> Int64Array).GetValue(0).Value)
                            |> Stream.toList

                        Expect.equal
                            batches
                            [ 0L; 300L; 100L; 400L; 200L; 500L; 600L; 700L; 800L ]
                            "two files at a time, in turn"))

            testCase "a CSV file: inferred schema, nulls, and an error naming file, line and column"
            <| fun () ->
                withFolder (fun folder ->
                    let path = Path.Combine(folder, "table.csv")

                    File.WriteAllLines(
                        path,
                        [ "id,score,name,ok"; "1,0.5,ann,true"; "2,,\"bo, b\",false"; "3,2.25,cy,true" ]
                    )

                    let schema = DataStream.InferCsvSchema path

                    Expect.equal
                        [ for f in schema.FieldsList -> f.DataType.Name ]
                        [ "int64"; "double"; "utf8"; "bool" ]
                        "inferred types"

                    let batches = DataStream.CsvBatches(path, batchRows = 2) |> Stream.toList
                    Expect.equal (batches |> List.map (fun b -> b.Length)) [ 2; 1 ] "batches of 2 rows"
                    let scores = batches.[0].Column("score") :?> DoubleArray
                    Expect.equal (scores.GetValue 0) (Nullable 0.5) "a number"
                    Expect.isFalse (scores.GetValue(1).HasValue) "an empty field is null"
                    Expect.equal ((batches.[0].Column("name") :?> StringArray).GetString 1) "bo, b" "quoted field"

                    let regrouped =
                        Stream.ofCsv path
                        |> Stream.batch 3
                        |> fun s -> s.ToRecordBatches() |> Stream.toList

                    Expect.equal
                        ((regrouped.[0].Column("name") :?> StringArray).GetString 2)
                        "cy"
                        "rows regrouped into record batches, strings too"

                    Expect.equal
                        ((regrouped.[0].Column("score") :?> DoubleArray).GetValue 2)
                        (Nullable 2.25)
                        "and numbers"

                    File.AppendAllLines(path, [ "x4,1.0,dee,true" ])
                    let declared = DataStream.InferCsvSchema(path, inferRows = 3)

                    expectThrowsWith<InvalidDataException> [ path; "line 5"; "column 'id'"; "x4" ] (fun () ->
                        DataStream.CsvBatches(path, declared) |> Stream.toList |> ignore))

            testCase "an image folder: decoded, resized, labelled by sub-folder; a broken image is named"
            <| fun () ->
                withFolder (fun folder ->
                    scoped (fun () ->
                        for name, shade in [ "dark", 10uy; "light", 240uy ] do
                            Directory.CreateDirectory(Path.Combine(folder, name)) |> ignore

                            for i in 0..2 do
                                use image = new Image<Rgb24>(12, 10, Rgb24(shade, shade, shade))
                                image.SaveAsPng(Path.Combine(folder, name, $"{i}.png"))

                        Expect.equal
                            (List.ofSeq (DataStream.ImageClasses folder))
                            [ "dark"; "light" ]
                            "classes are the sorted sub-folders"

                        let batches =
                            DataStream.ImageFolder(folder, 8, 6, 1, 2).Batch(4).Stack() |> Stream.toList

                        let struct (images, labels) = batches.[0]
                        Expect.sequenceEqual images.shape [| 4L; 1L; 6L; 8L |] "[batch, channels, height, width]"
                        Expect.equal (labels.data<int64>().ToArray()) [| 0L; 0L; 0L; 1L |] "labels by folder"

                        expectClose
                            "pixel values in [0, 1], gray by luma (weights adding to 0.9999)"
                            1e-6
                            (images.[0].mean())
                            (torch.tensor (10.0f / 255.0f * 0.9999f))

                        let broken = Path.Combine(folder, "light", "3.png")
                        File.WriteAllText(broken, "not a png")

                        let e =
                            catchError<StreamException>(fun () ->
                                DataStream.ImageFolder(folder, 8, 6, 1, 2) |> Stream.toList |> ignore)

                        Expect.stringContains e.Message broken "names the file"))

            testCase "text lines, Arrow IPC files and streams"
            <| fun () ->
                withFolder (fun folder ->
                    let text = Path.Combine(folder, "lines.txt")
                    File.WriteAllLines(text, [ "alpha"; "beta"; "gamma" ])
                    Expect.equal (Stream.ofTextLines text |> Stream.toList) [ "alpha"; "beta"; "gamma" ] "lines"
                    let ipc = Path.Combine(folder, "numbers.arrow")
                    let batches = numbered 50L 2L 20
                    Sources.ArrowIpcFile.Write(ipc, batches.[0].Schema, batches)

                    Expect.equal
                        (Stream.ofArrowIpcBatches ipc |> Stream.toList |> List.map (fun b -> b.Length))
                        [ 20; 20; 10 ]
                        "IPC file"

                    let bytes = new MemoryStream()

                    (use writer = new Ipc.ArrowStreamWriter(bytes, batches.[0].Schema, leaveOpen = true)

                     for b in batches do
                         writer.WriteRecordBatch b

                     writer.WriteEnd())

                    let fromStream =
                        DataStream.ArrowIpcStream(
                            (fun () -> new MemoryStream(bytes.ToArray()) :> System.IO.Stream),
                            "memory"
                        )

                    Expect.equal (fromStream |> Stream.toList |> List.sumBy (fun b -> b.Length)) 50 "IPC stream")

            testCase "damaged or missing Parquet, Arrow and CSV files are errors naming the file"
            <| fun () ->
                withFolder (fun folder ->
                    let parquet = Path.Combine(folder, "cut.parquet")
                    writeParquet parquet (numbered 500L 4L 100)
                    let bytes = File.ReadAllBytes parquet
                    File.WriteAllBytes(parquet, bytes.[.. bytes.Length / 2])

                    expectThrowsWith<InvalidDataException> [ parquet; "Parquet" ] (fun () ->
                        ParquetStreams.ParquetBatches(parquet) |> Stream.toList |> ignore)

                    File.WriteAllBytes(parquet, Array.init 4096 byte)

                    expectThrowsWith<InvalidDataException> [ parquet ] (fun () ->
                        ParquetStreams.ParquetBatches(parquet) |> Stream.toList |> ignore)

                    let missing = Path.Combine(folder, "missing.parquet")

                    expectThrowsWith<FileNotFoundException> [ missing ] (fun () ->
                        ParquetStreams.ParquetBatches(missing) |> Stream.toList |> ignore)

                    let arrow = Path.Combine(folder, "cut.arrow")
                    File.WriteAllText(arrow, "ARROW1 but not really")

                    expectThrowsWith<InvalidDataException> [ arrow ] (fun () ->
                        Stream.ofArrowIpcBatches arrow |> Stream.toList |> ignore)

                    let csv = Path.Combine(folder, "cut.csv")
                    File.WriteAllText(csv, "a,b\n1,2\n3,\"unterminated\n")

                    expectThrowsWith<InvalidDataException> [ csv; "line 3" ] (fun () ->
                        Stream.ofCsvBatches csv |> Stream.toList |> ignore)

                    File.WriteAllText(csv, "a,b\n1,2\n3\n")

                    expectThrowsWith<InvalidDataException> [ csv; "line 3"; "1 fields" ] (fun () ->
                        Stream.ofCsvBatches csv |> Stream.toList |> ignore)

                    expectThrowsWith<FileNotFoundException> [ "nope.csv" ] (fun () ->
                        Stream.ofCsvBatches (Path.Combine(folder, "nope.csv"))
                        |> Stream.toList
                        |> ignore))

            testCase "elements that their consumer releases cannot be cached or shared by overlapping windows"
            <| fun () ->
                let rows = Stream.ofTensors [ "x", torch.zeros (4L, 2L) ] |> Stream.rows
                expectThrowsWith<NotSupportedException> [ "Row"; "cannot be cached" ] (fun () -> rows.Cache() |> ignore)
                let pairs = DataStream.FromValues([ struct (torch.zeros 1L, torch.ones 1L) ])
                expectThrowsWith<NotSupportedException> [ "cannot be cached" ] (fun () -> pairs.Cache() |> ignore)

                expectThrowsWith<NotSupportedException> [ "Overlapping windows" ] (fun () ->
                    rows.Window(3, 1) |> ignore)

                Expect.equal
                    (Stream.ofSeq [ 1..4 ] |> Stream.window 2 1 |> Stream.batch 1 |> Stream.toList).Length
                    4
                    "plain arrays may overlap"

            testCase "cacheToFile writes an Arrow IPC file on the first complete run and replays it"
            <| fun () ->
                withFolder (fun folder ->
                    let cacheFile = Path.Combine(folder, "cache.arrow")
                    let mutable reads = 0

                    let source =
                        Stream.ofGenerator (fun () ->
                            reads <- reads + 1
                            numbered 30L 2L 10 :> seq<_>)

                    let cached = source |> Stream.cacheToFile cacheFile
                    Expect.equal (cached.Enumerate() |> Seq.take 1 |> Seq.length) 1 "a partial run"
                    Expect.isFalse (File.Exists cacheFile) "a partial run leaves no file"
                    let first = cached |> Stream.toList |> List.sumBy (fun b -> b.Length)
                    Expect.isTrue (File.Exists cacheFile) "a complete run writes the file"
                    let second = cached |> Stream.toList |> List.sumBy (fun b -> b.Length)
                    Expect.equal (first, second) (30, 30) "same rows"
                    Expect.equal reads 2 "the source was not read again")

            testCase "a stream prints its stages and first elements; Describe adds the latest run's counters"
            <| fun () ->
                let pairs =
                    Stream.ofSeq [ 1..10 ]
                    |> Stream.map (fun i ->
                        struct (torch.arange(3L, dtype = torch.float32).add((float32 i).ToScalar()),
                                torch.tensor (int64 i)))

                Expect.equal
                    (sprintf "%A" (pairs |> Stream.take 1L))
                    "DataStream<(Tensor, Tensor)>: take(1) <- map <- values\n  (float32 [3] [1, 2, 3], int64 [] 1)"
                    "F#'s %A: type, stages, the element with dtypes, shapes and values"

                Expect.stringContains (string pairs) "\n  ..." "more than three elements end in ..."

                use batches = DataStream.FromRecordBatches(numbered 5L 2L 4)

                Expect.stringContains
                    (batches.ToString())
                    "RecordBatch, 4 rows: x float[2] [[0, 1], [2, 3], [4, 5], [6, 7]]"
                    "tables: each column's type and first values"

                let before = (Stream.describe batches).ToString()
                Expect.stringContains before "stages (not run yet)" "not run: no counters yet"
                Stream.toList batches |> List.iter (fun b -> b.Dispose())
                let after = Stream.describe batches
                Expect.equal after.ElementType "RecordBatch" "element type"
                Expect.stringContains after.FirstElement "y int64 [0, 1, 2, 3]" "the first batch's columns"
                Expect.equal after.Stages.[0].Elements 2L "the run's counters, not those of printing it"

                let live =
                    Stream.ofObservable 4 OverflowPolicy.Block (new Reactive.Subjects.Subject<int>())

                Expect.stringContains (string live) "a live source: not read" "printing never waits on a live source"

                let broken = Stream.ofSeq [ 1 ] |> Stream.map (fun _ -> failwith "no such file")
                Expect.stringContains (string broken) "(reading it failed: " "a failing stream still prints"
        ]
