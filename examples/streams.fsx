// Training from a stream: the built-in MNIST digits written once to a Parquet file, then
// read back through a pipeline (shuffle, batches of 128, tensors, prefetch 4) while the
// CNN trains on it. Reports how much of each step waited for input. Build first, then:
//   dotnet fsi examples/streams.fsx -- --epochs 5 --train 8000
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Apache.Arrow.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Streams.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"
#r "../integrations/Parquet/bin/Release/net10.0/Functional.Streams.Parquet.dll"

open System
open System.Diagnostics
open System.IO
open TorchSharp
open Functional.Datasets
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Streams
open Functional.Streams.Columns
open Functional.Streams.Sources
open Functional.FSharp

let argument name fallback =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) name) with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> fallback

let epochs, trainCount = argument "--epochs" 5, int64 (argument "--train" 8000)

// The data as a Parquet file: pixels as a fixed-size list of 784 bytes, labels as int64.
let struct (images, labels) = Mnist.Load()
let parquet = Path.Combine(Path.GetTempPath(), $"mnist-train-{trainCount}.parquet")

let pixels =
    (images.narrow (0L, 0L, trainCount) * 255.0f).round().to_type(torch.uint8).reshape(-1L, 784L)

ParquetFile.Write(
    parquet,
    TensorColumns.ToRecordBatches(readOnlyDict [ "image", pixels; "label", labels.narrow (0L, 0L, trainCount) ], 1000)
)

let train =
    ParquetStreams.Parquet(parquet) // one element per row
    |> Stream.shuffleWith 42UL 10_000
    |> Stream.batch 128
    |> Stream.toTrainingBatches "image" "label" [| 1L; 28L; 28L |] (fun raw -> raw.to_type (torch.float32) / 255.0f)
    |> Stream.prefetch 4

let network =
    Conv2D(32L, 3L, activation = ActivationFunction.Relu)
    --> MaxPool2D()
    --> Conv2D(64L, 3L, activation = ActivationFunction.Relu)
    --> MaxPool2D()
    --> Flatten()
    --> Dense(128L, activation = ActivationFunction.Relu)
    --> Dense(10L)

use model =
    network
    |> Model.compile
        (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
        (Optim.adam 2e-3)
        [ SparseCategoricalAccuracy() ]
        [| 1L; 28L; 28L |]

let clock = Stopwatch.StartNew()

let result =
    model
    |> Model.fitFrom
        { FitSettings.defaults with
            Epochs = epochs
            ShowStepTimes = true
        }
        (Stream.toBatchSource train)

let seconds = clock.Elapsed.TotalSeconds

let test =
    model
    |> Model.evaluate (Data.ofTrees (images.narrow (0L, 8000L, 2000L)) (labels.narrow (0L, 8000L, 2000L)))

for stage in Stream.stages train do
    printfn "%O" stage
// The share of step time spent waiting for input, over every epoch but the first (warm-up).
let measured =
    result.History.StepTimes |> Seq.skip (if epochs > 1 then 1 else 0) |> List.ofSeq

let inputWait = measured |> List.sumBy (fun t -> t.InputWait.TotalSeconds)
let total = measured |> List.sumBy (fun t -> t.Total.TotalSeconds)
File.Delete parquet

printfn "test_accuracy=%.4f" test.["accuracy"]
printfn "input_wait_share=%.4f" (inputWait / total)
printfn "train_seconds=%.1f" seconds
