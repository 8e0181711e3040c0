// The quickstart: a small CNN on the 10,000 real MNIST digits shipped in data/mnist, trained
// on the first 8,000 and tested on the other 2,000. Build first (./build.sh does), then:
//   dotnet fsi examples/mnist.fsx -- --epochs 10 --train 8000
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"

open System.Diagnostics
open Functional.Datasets
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.FSharp

let argument name fallback =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) name) with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> fallback

let epochs, trainCount = argument "--epochs" 10, int64 (argument "--train" 8000)

let struct (images, labels) = Mnist.Load()

let train =
    Data.ofTrees (images.narrow (0L, 0L, trainCount)) (labels.narrow (0L, 0L, trainCount))

let test =
    Data.ofTrees (images.narrow (0L, 8000L, 2000L)) (labels.narrow (0L, 8000L, 2000L))

let network =
    Conv2D(32L, 3L, activation = ActivationFunction.Relu)
    --> MaxPool2D()
    --> Conv2D(64L, 3L, activation = ActivationFunction.Relu)
    --> MaxPool2D()
    --> Flatten()
    --> Dropout(0.25)
    --> Dense(128L, activation = ActivationFunction.Relu)
    --> Dense(10L)

use model =
    network
    |> Model.compile
        (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
        (Optim.adam 2e-3)
        [ SparseCategoricalAccuracy() ]
        [| 1L; 28L; 28L |]

printfn "%s" (Model.summary model)

let clock = Stopwatch.StartNew()

model
|> Model.fit
    { FitSettings.defaults with
        Epochs = epochs
        BatchSize = 128
        Validation = Some test
    }
    train
|> ignore

let seconds = clock.Elapsed.TotalSeconds
let scores = model |> Model.evaluate test

printfn "test_accuracy=%.4f" scores.["accuracy"]
printfn "train_seconds=%.1f" seconds
