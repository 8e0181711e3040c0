// The quickstart: a small CNN on the 10,000 real MNIST digits shipped in data/mnist, trained
// on the first 8,000 and tested on the other 2,000. Build first (./build.sh does), then:
//   dotnet fsi examples/mnist.fsx -- --epochs 10 --train 8000
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"

open System.Diagnostics
open TorchSharp
open Functional.Datasets
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training

let argument name fallback =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) name) with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> fallback
let epochs, trainCount = argument "--epochs" 10, int64 (argument "--train" 8000)

let struct (images, labels) = Mnist.Load(Mnist.FindFolder __SOURCE_DIRECTORY__)
let trainX, trainY = images.narrow(0L, 0L, trainCount), labels.narrow(0L, 0L, trainCount)
let testX, testY = images.narrow(0L, 8000L, 2000L), labels.narrow(0L, 8000L, 2000L)

let network =
    Sequential(
        Conv2D(32L, 3L, activation = ActivationFunction.Relu), MaxPool2D(),
        Conv2D(64L, 3L, activation = ActivationFunction.Relu), MaxPool2D(),
        Flatten(), Dropout(0.25),
        Dense(128L, activation = ActivationFunction.Relu),
        Dense(10L))

let model =
    new Model(network, [| 1L; 28L; 28L |], Loss.SparseCategoricalCrossEntropy(fromLogits = true),
              Optimizer.Adam 2e-3, [ SparseCategoricalAccuracy() :> Metric ], seed = 0UL)
printfn "%s" (model.Summary())

let clock = Stopwatch.StartNew()
model.Fit(trainX, trainY, FitOptions(Epochs = epochs, BatchSize = 128, ValidationData = LabeledData(testX, testY))) |> ignore
let seconds = clock.Elapsed.TotalSeconds
let test = model.Evaluate(testX, testY)

printfn "test_accuracy=%.4f" test.["accuracy"]
printfn "train_seconds=%.1f" seconds
model.Dispose()
