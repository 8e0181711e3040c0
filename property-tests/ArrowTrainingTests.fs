/// Training from Arrow data: IPC files written and read back, damaged files named, and Fit
/// fed record batch by record batch.
module Functional.PropertyTests.ArrowTrainingTests

open System
open System.IO
open Expecto
open Apache.Arrow
open Apache.Arrow.Types
open TorchSharp
open Functional.Datasets
open Functional.Training
open Functional.Streams
open Functional.Streams.Sources
open Functional.Streams.Tables
open Functional.Streams.Training
open Functional.FSharp
open Support

let private schema =
    Schema
        .Builder()
        .Field(fun f -> f.Name("pixels").DataType(FixedSizeListType(UInt8Type.Default, 784)) |> ignore)
        .Field(fun f -> f.Name("label").DataType(Int64Type.Default) |> ignore)
        .Build()

/// MNIST rows [start, start + count) as one record batch: pixels as a fixed-size list of bytes.
let private batchOf (pixels: torch.Tensor) (labels: torch.Tensor) (start: int64) (count: int64) =
    let bytes = pixels.narrow(0L, start, count).contiguous().data<byte>().ToArray()
    let values = (UInt8Array.Builder()).AppendRange(bytes).Build()

    let column =
        new FixedSizeListArray(FixedSizeListType(UInt8Type.Default, 784), int count, values, ArrowBuffer.Empty, 0, 0)

    let ids =
        (Int64Array.Builder()).AppendRange(labels.narrow(0L, start, count).data<int64>().ToArray()).Build()

    new RecordBatch(schema, [ column :> IArrowArray; ids ], int count)

let tests =
    testList
        "training from arrow"
        [
            testCase "Fit trains from an Arrow IPC file, one record batch per step"
            <| fun () ->
                scoped (fun () ->
                    let path =
                        Path.Combine(Path.GetTempPath(), $"functional-mnist-{Guid.NewGuid():N}.arrow")

                    try
                        let struct (images, labels) = Mnist.Load()
                        let pixels = (images * 255.0f).round().to_type(torch.uint8).reshape(-1L, 784L)

                        ArrowIpcFile.Write(
                            path,
                            schema,
                            [ for start in 0L..125L..1875L -> batchOf pixels labels start 125L ]
                        )

                        Expect.equal
                            (ArrowIpcFile.Read path |> Seq.sumBy (fun b -> use b = b in b.Length))
                            2000
                            "all rows back"

                        let source =
                            DataStream
                                .ArrowIpcBatches(path)
                                .ToTensors(
                                    "pixels",
                                    "label",
                                    [| 1L; 28L; 28L |],
                                    fun raw -> raw.to_type (torch.float32) / 255.0f
                                )
                            |> Stream.toBatchSource

                        use model = digitModel ()

                        let history =
                            model.Fit(source, FitOptions(Verbosity = Verbosity.Silent, Epochs = 2))

                        Expect.equal history.StepTimes.[0].Steps 16L "one step per record batch"
                        expectLearnsDigits model images labels "learns from the file"
                    finally
                        File.Delete path)

            testCase "a damaged Arrow file is an InvalidDataException naming it"
            <| fun () ->
                scoped (fun () ->
                    let path =
                        Path.Combine(Path.GetTempPath(), $"functional-damaged-{Guid.NewGuid():N}.arrow")

                    try
                        let struct (images, labels) = Mnist.Load()

                        let pixels =
                            (images.narrow (0L, 0L, 100L) * 255.0f).to_type(torch.uint8).reshape(-1L, 784L)

                        ArrowIpcFile.Write(path, schema, [ batchOf pixels labels 0L 100L ])
                        let bytes = File.ReadAllBytes path
                        File.WriteAllBytes(path, bytes.[.. bytes.Length / 2])

                        expectThrowsWith<InvalidDataException> [ path; "Arrow IPC" ] (fun () ->
                            ArrowIpcFile.Read path |> Seq.iter (fun b -> b.Dispose()))

                        File.WriteAllText(path, "not arrow at all")

                        expectThrowsWith<InvalidDataException> [ path ] (fun () ->
                            ArrowIpcFile.Read path |> Seq.iter (fun b -> b.Dispose()))
                    finally
                        File.Delete path)
        ]
