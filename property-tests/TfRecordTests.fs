/// TFRecord files: framing and CRC-32C checked against files another implementation wrote
/// (fixtures/tfrecord, made by make_fixtures.js with the npm package @roboflow/tfrecords and
/// Node's zlib), tf.train.Example / SequenceExample to Arrow columns and back, feature
/// descriptions, interleaved shards, and damage named by file, record and offset.
module Functional.PropertyTests.TfRecordTests

open System
open System.IO
open System.Text
open System.Text.Json
open Expecto
open FsCheck
open FsCheck.FSharp
open Apache.Arrow
open TorchSharp
open Functional.Streams
open Functional.Streams.Records
open Functional.FSharp
open Support
open StreamSourceTests

let private fixture name =
    Path.Combine(AppContext.BaseDirectory, "fixtures", "tfrecord", name)

let private expected =
    lazy (JsonDocument.Parse(File.ReadAllText(fixture "expected.json")).RootElement)

let private exampleSpecs =
    [
        TfFeatureSpec.Fixed("id", TfFeatureType.Int64)
        TfFeatureSpec.Fixed("label", TfFeatureType.String)
        TfFeatureSpec.Fixed("pixels", TfFeatureType.Float32, [| 4 |])
        TfFeatureSpec.Variable("tags", TfFeatureType.Int64)
        TfFeatureSpec.Fixed("blob", TfFeatureType.Bytes, [| 1 |])
        TfFeatureSpec.Fixed("weight", TfFeatureType.Float32, defaultValue = -1.0)
    ]

let private int64s (array: IArrowArray) = (array :?> Int64Array).Values.ToArray()

let private floats (array: IArrowArray) = (array :?> FloatArray).Values.ToArray()

/// The rows of a list column as arrays of its int64 values.
let private int64Lists (array: IArrowArray) =
    let list = array :?> ListArray
    let values = int64s list.Values

    [
        for i in 0 .. list.Length - 1 -> values.[list.ValueOffsets.[i] .. list.ValueOffsets.[i + 1] - 1]
    ]

/// Reads every batch of `stream` into one list of rows per column (then disposes the batches).
let private readAll (stream: DataStream<RecordBatch>) (read: RecordBatch -> 'Row list) =
    [
        for batch in stream.Enumerate() do
            use batch = batch
            yield! read batch
    ]

let private exampleRows (batch: RecordBatch) =
    let ids = int64s (batch.Column "id")
    let labels = batch.Column "label" :?> StringArray
    let pixels = floats ((batch.Column "pixels" :?> FixedSizeListArray).Values)
    let tags = int64Lists (batch.Column "tags")
    let blobs = (batch.Column "blob" :?> FixedSizeListArray).Values :?> BinaryArray
    let weights = floats (batch.Column "weight")

    [
        for i in 0 .. batch.Length - 1 ->
            ids.[i], labels.GetString i, pixels.[4 * i .. 4 * i + 3], tags.[i], blobs.GetBytes(i).ToArray(), weights.[i]
    ]

let private expectedExamples () =
    [
        for e in expected.Value.GetProperty("examples").EnumerateArray() ->
            let weight = e.GetProperty "weight"

            e.GetProperty("id").GetInt64(),
            e.GetProperty("label").GetString(),
            [| for v in e.GetProperty("pixels").EnumerateArray() -> v.GetSingle() |],
            [| for v in e.GetProperty("tags").EnumerateArray() -> v.GetInt64() |],
            [| for v in e.GetProperty("blob").EnumerateArray() -> v.GetByte() |],
            (if weight.ValueKind = JsonValueKind.Null then
                 -1.0f
             else
                 weight.GetSingle())
    ]

/// Random tables for round trips: an id, a fixed float vector, text, a variable int64 list and bytes.
type TableRow =
    {
        Id: int64
        Vector: float32[]
        Text: string
        Tags: int64[]
        Blob: byte[]
    }

let private rowGen =
    gen {
        let! id = ArbMap.defaults |> ArbMap.generate<int64>

        let! vector =
            Gen.arrayOfLength 3 (Gen.choose (-1000, 1000) |> Gen.map (fun v -> float32 v / 8.0f))

        let! text = Gen.elements [ ""; "a"; "dög"; "多"; "line\nbreak" ]

        let! tags =
            Gen.choose (0, 4)
            |> Gen.bind (fun n -> Gen.arrayOfLength n (ArbMap.defaults |> ArbMap.generate<int64>))

        let! blob =
            Gen.choose (0, 5)
            |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte))

        return
            {
                Id = id
                Vector = vector
                Text = text
                Tags = tags
                Blob = blob
            }
    }

let private toBatch (rows: TableRow list) =
    let ids = Int64Array.Builder().AppendRange(rows |> List.map _.Id).Build()

    let vectorValues =
        FloatArray.Builder().AppendRange(rows |> List.collect (fun r -> List.ofArray r.Vector)).Build()

    let vectorType =
        Types.FixedSizeListType(Field("item", Types.FloatType.Default, false), 3)

    let vectors =
        new FixedSizeListArray(
            new ArrayData(vectorType, rows.Length, 0, 0, [| ArrowBuffer.Empty |], [| vectorValues.Data |])
        )

    let texts = StringArray.Builder().AppendRange(rows |> List.map _.Text).Build()

    let tags =
        let builder = ListArray.Builder(Types.Int64Type.Default)
        let values = builder.ValueBuilder :?> Int64Array.Builder

        for r in rows do
            builder.Append() |> ignore
            values.AppendRange r.Tags |> ignore

        builder.Build()

    let blobs =
        let builder = BinaryArray.Builder()

        for r in rows do
            builder.Append(ReadOnlySpan r.Blob) |> ignore

        builder.Build()

    RecordBatch
        .Builder()
        .Append("id", false, ids)
        .Append("vector", false, vectors)
        .Append("text", false, texts)
        .Append("tags", false, tags)
        .Append("blob", false, blobs)
        .Build()

let private tableSpecs =
    [
        TfFeatureSpec.Fixed("id", TfFeatureType.Int64)
        TfFeatureSpec.Fixed("vector", TfFeatureType.Float32, [| 3 |])
        TfFeatureSpec.Fixed("text", TfFeatureType.String)
        TfFeatureSpec.Variable("tags", TfFeatureType.Int64)
        TfFeatureSpec.Fixed("blob", TfFeatureType.Bytes)
    ]

let private tableRows (batch: RecordBatch) =
    let ids = int64s (batch.Column "id")
    let vectors = floats ((batch.Column "vector" :?> FixedSizeListArray).Values)
    let texts = batch.Column "text" :?> StringArray
    let tags = int64Lists (batch.Column "tags")
    let blobs = batch.Column "blob" :?> BinaryArray

    [
        for i in 0 .. batch.Length - 1 ->
            {
                Id = ids.[i]
                Vector = vectors.[3 * i .. 3 * i + 2]
                Text = texts.GetString i
                Tags = tags.[i]
                Blob = blobs.GetBytes(i).ToArray()
            }
    ]

let tests =
    testList
        "tfrecord"
        [
            testCase "files another implementation wrote (plain, GZIP, ZLIB) read as the values it was given"
            <| fun () ->
                for file in [ "examples.tfrecord"; "examples.tfrecord.gz"; "examples.tfrecord.zlib" ] do
                    let stream =
                        DataStream.TfRecordExamples([ fixture file ], exampleSpecs, batchRows = 2)

                    let rows = readAll stream exampleRows
                    Expect.sequenceEqual rows (expectedExamples ()) file

                // The record bytes themselves parse one by one too.
                let first =
                    TfRecordFile.Read(fixture "examples.tfrecord") |> Seq.head |> TfExample.Parse

                Expect.equal (first.Features.["label"].Strings) [| "cat" |] "a string feature"
                Expect.equal (string first.Features.["id"]) "int64[1] 100" "a feature prints its kind, count and values"

            testCase
                "SequenceExamples another implementation wrote: context columns and a list of fixed-shape steps per feature list"
            <| fun () ->
                let stream =
                    DataStream.TfRecordSequenceExamples(
                        [ fixture "sequences.tfrecord" ],
                        [ TfFeatureSpec.Fixed("length", TfFeatureType.Int64) ],
                        [
                            TfFeatureSpec.Fixed("tokens", TfFeatureType.Int64)
                            TfFeatureSpec.Fixed("frames", TfFeatureType.Float32, [| 2 |])
                        ]
                    )

                let rows =
                    readAll stream (fun batch ->
                        let frames = batch.Column "frames" :?> ListArray
                        let frameValues = floats ((frames.Values :?> FixedSizeListArray).Values)

                        [
                            for i in 0 .. batch.Length - 1 ->
                                let a, b = frames.ValueOffsets.[i], frames.ValueOffsets.[i + 1]

                                (int64s (batch.Column "length")).[i],
                                (int64Lists (batch.Column "tokens")).[i],
                                frameValues.[2 * a .. 2 * b - 1]
                        ])

                let wanted =
                    [
                        for s in expected.Value.GetProperty("sequences").EnumerateArray() ->
                            s.GetProperty("length").GetInt64(),
                            [| for t in s.GetProperty("tokens").EnumerateArray() -> t.GetInt64() |],
                            [|
                                for f in s.GetProperty("frames").EnumerateArray() do
                                    for v in f.EnumerateArray() -> v.GetSingle()
                            |]
                    ]

                Expect.sequenceEqual rows wanted "context, tokens and frames"

            testCase "shards are interleaved record by record, and every record comes once"
            <| fun () ->
                let ids cycle =
                    readAll
                        (DataStream.TfRecordExamples(
                            [ fixture "shard-0.tfrecord"; fixture "shard-1.tfrecord" ],
                            [ TfFeatureSpec.Fixed("id", TfFeatureType.Int64) ],
                            batchRows = 3,
                            cycleLength = cycle
                        ))
                        (fun b -> List.ofArray (int64s (b.Column "id")))

                Expect.equal (ids 2) [ 100L; 103L; 101L; 104L; 102L ] "two at a time, one record from each in turn"
                Expect.equal (ids 1) [ 100L .. 104L ] "one at a time: file after file"

            testProperty "tables -> Examples -> tables gives the same values, with every compression"
            <| Prop.forAll
                (Arb.fromGen (
                    Gen.listOf rowGen
                    |> Gen.map (List.truncate 20)
                    |> Gen.zip (Gen.elements [ ""; ".gz"; ".zlib" ])
                ))
                (fun (extension, rows) ->
                    withFolder (fun folder ->
                        let path = Path.Combine(folder, "t.tfrecord" + extension)
                        use batch = toBatch rows

                        Expect.equal
                            (TfRecordFile.WriteExamples(path, [ batch ]))
                            (int64 rows.Length)
                            "one record per row"

                        let back =
                            readAll (DataStream.TfRecordExamples([ path ], tableSpecs, batchRows = 7)) tableRows

                        Expect.sequenceEqual back rows "the same rows"))

            testCase "sliced batches and nested shapes round-trip; a null inside a list is refused"
            <| fun () ->
                withFolder (fun folder ->
                    let rows = Gen.sample 1 (Gen.listOfLength 9 rowGen) |> Array.head
                    use batch = toBatch rows
                    use slice = batch.Slice(3, 4)
                    let path = Path.Combine(folder, "s.tfrecord")
                    TfRecordFile.WriteExamples(path, [ slice ]) |> ignore
                    let back = readAll (DataStream.TfRecordExamples([ path ], tableSpecs)) tableRows

                    Expect.sequenceEqual
                        back
                        (rows |> List.skip 3 |> List.take 4)
                        "a slice's rows, not the batch's first"

                    use images = torch.arange(24.0f).reshape(3L, 2L, 2L, 2L)

                    use table =
                        Columns.TensorColumns.ToRecordBatches(readOnlyDict [ "image", images ], 10)
                        |> Seq.exactlyOne

                    TfRecordFile.WriteExamples(path, [ table ]) |> ignore

                    let nested =
                        readAll
                            (DataStream.TfRecordExamples(
                                [ path ],
                                [ TfFeatureSpec.Fixed("image", TfFeatureType.Float32, [| 2; 2; 2 |]) ]
                            ))
                            (fun b -> [ Columns.ArrowTensor.FromColumn(b, "image") ])
                        |> List.exactlyOne

                    expectClose "a [2, 2, 2] feature comes back as tensors [3, 2, 2, 2]" 0.0 nested images

                    let withNull =
                        let builder = ListArray.Builder(Types.Int64Type.Default)
                        let values = builder.ValueBuilder :?> Int64Array.Builder
                        builder.Append() |> ignore
                        values.Append(1L).AppendNull() |> ignore
                        RecordBatch.Builder().Append("tags", false, builder.Build()).Build()

                    expectThrowsWith<NotSupportedException> [ "null inside a list" ] (fun () ->
                        TfRecordFile.WriteExamples(path, [ withNull ]) |> ignore))

            testCase "tables -> SequenceExamples -> tables keeps each row's steps"
            <| fun () ->
                withFolder (fun folder ->
                    let rows = Gen.sample 1 (Gen.listOfLength 12 rowGen) |> Array.head
                    use batch = toBatch rows
                    let path = Path.Combine(folder, "s.tfrecord")
                    TfRecordFile.WriteSequenceExamples(path, [ batch ], [ "tags" ]) |> ignore

                    let back =
                        readAll
                            (DataStream.TfRecordSequenceExamples(
                                [ path ],
                                [ TfFeatureSpec.Fixed("id", TfFeatureType.Int64) ],
                                [ TfFeatureSpec.Fixed("tags", TfFeatureType.Int64) ]
                            ))
                            (fun b -> List.zip (List.ofArray (int64s (b.Column "id"))) (int64Lists (b.Column "tags")))

                    Expect.sequenceEqual back (rows |> List.map (fun r -> r.Id, r.Tags)) "ids and their steps")

            testCase "a description can be read off the file; a feature some records lack is variable"
            <| fun () ->
                let described =
                    TfRecordFile.DescribeExamples(fixture "examples.tfrecord")
                    |> Seq.map string
                    |> List.ofSeq

                Expect.equal
                    described
                    [
                        "blob: bytes[]"
                        "id: int64[]"
                        "label: string[]"
                        "pixels: float32[4]"
                        "tags: int64[*]"
                        "weight: float32[*]"
                    ]
                    "fixed where every sampled record has the same count; bytes that are UTF-8 read as text"

            testCase "damage is named by file, record and offset; records before it are read"
            <| fun () ->
                withFolder (fun folder ->
                    let original = File.ReadAllBytes(fixture "examples.tfrecord")

                    let offsets =
                        TfRecordFile.Read(fixture "examples.tfrecord")
                        |> Seq.scan (fun at r -> at + 16 + r.Length) 0
                        |> Array.ofSeq

                    let path = Path.Combine(folder, "damaged.tfrecord")
                    let bytes = Array.copy original
                    // A byte inside record 2's data.
                    bytes.[offsets.[2] + 20] <- bytes.[offsets.[2] + 20] ^^^ 0x10uy
                    File.WriteAllBytes(path, bytes)
                    let seen = Collections.Generic.List<byte[]>()

                    expectThrowsWith<InvalidDataException>
                        [ path; "record 2"; $"byte {offsets.[2]}"; "data's CRC" ]
                        (fun () ->
                            for r in TfRecordFile.Read path do
                                seen.Add r)

                    Expect.equal seen.Count 2 "the two records before it"

                    // A length (header) damaged, and a file cut inside a record.
                    let header = Array.copy original
                    header.[offsets.[1] + 1] <- 0x7fuy
                    File.WriteAllBytes(path, header)

                    expectThrowsWith<InvalidDataException> [ "record 1"; "length's CRC" ] (fun () ->
                        TfRecordFile.Read path |> Seq.iter ignore)

                    File.WriteAllBytes(path, original.[.. offsets.[3] + 30])

                    expectThrowsWith<InvalidDataException> [ "record 3"; "ends inside the record" ] (fun () ->
                        TfRecordFile.Read path |> Seq.iter ignore)

                    // A gzip file read as plain says so; damaged gzip is named too.
                    expectThrowsWith<InvalidDataException> [ "TfRecordCompression.Gzip" ] (fun () ->
                        TfRecordFile.Read(fixture "examples.tfrecord.gz", TfRecordCompression.None)
                        |> Seq.iter ignore)

                    let gz = File.ReadAllBytes(fixture "examples.tfrecord.gz")
                    gz.[gz.Length / 2] <- gz.[gz.Length / 2] ^^^ 0xffuy
                    let gzPath = Path.Combine(folder, "damaged.tfrecord.gz")
                    File.WriteAllBytes(gzPath, gz)

                    expectThrowsWith<InvalidDataException> [ gzPath ] (fun () ->
                        TfRecordFile.Read gzPath |> Seq.iter ignore))

            testCase "records that do not match the description are errors naming the file, record and feature"
            <| fun () ->
                let read specs =
                    DataStream.TfRecordExamples([ fixture "examples.tfrecord" ], specs).Enumerate()
                    |> Seq.iter (fun b -> b.Dispose())

                let path = fixture "examples.tfrecord"

                expectThrowsWith<InvalidDataException> [ path; "record 2"; "no feature 'weight'" ] (fun () ->
                    read [ TfFeatureSpec.Fixed("weight", TfFeatureType.Float32) ])

                expectThrowsWith<InvalidDataException>
                    [ path; "record 0"; "'pixels' has 4 values"; "needs 3" ]
                    (fun () -> read [ TfFeatureSpec.Fixed("pixels", TfFeatureType.Float32, [| 3 |]) ])

                expectThrowsWith<InvalidDataException> [ "record 0"; "'id' holds int64"; "reads float" ] (fun () ->
                    read [ TfFeatureSpec.Fixed("id", TfFeatureType.Float32) ])

                expectThrowsWith<ArgumentException> [ "'id' is described twice" ] (fun () ->
                    read
                        [
                            TfFeatureSpec.Fixed("id", TfFeatureType.Int64)
                            TfFeatureSpec.Variable("id", TfFeatureType.Int64)
                        ])

                expectThrowsWith<ArgumentException> [ "a default of 2 values"; "give one value or 4" ] (fun () ->
                    TfFeatureSpec.Fixed("p", TfFeatureType.Float32, [| 4 |], [| 1.0; 2.0 |])
                    |> ignore)

                expectThrowsWith<ArgumentException> [ "'x'"; "not a Int64 value" ] (fun () ->
                    TfFeatureSpec.Fixed("x", TfFeatureType.Int64, defaultValue = "seven") |> ignore)

                // Bytes that are not a protobuf message at all.
                withFolder (fun folder ->
                    let junk = Path.Combine(folder, "junk.tfrecord")
                    TfRecordFile.Write(junk, [ [| 0xffuy; 0xffuy; 0xffuy |] ])

                    expectThrowsWith<InvalidDataException>
                        [ junk; "record 0"; "Not a valid tf.train.Example" ]
                        (fun () ->
                            DataStream.TfRecordExamples([ junk ], exampleSpecs).Enumerate()
                            |> Seq.iter ignore))

            testCase "an unfinished write leaves no file and keeps the previous one"
            <| fun () ->
                withFolder (fun folder ->
                    let path = Path.Combine(folder, "w.tfrecord")
                    TfRecordFile.Write(path, [ [| 1uy |]; [| 2uy; 3uy |] ])

                    (use writer = TfRecordFile.BeginWrite path
                     writer.Write(ReadOnlySpan [| 9uy |]))

                    Expect.equal
                        (TfRecordFile.Read path |> Seq.map List.ofArray |> List.ofSeq)
                        [ [ 1uy ]; [ 2uy; 3uy ] ]
                        "the old file, whole"

                    Expect.equal (Directory.GetFiles folder).Length 1 "no temporary file left")
        ]
