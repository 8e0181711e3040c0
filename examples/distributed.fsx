// Train an MNIST classifier data-parallel: the same script runs as one process or as N ranks.
//   dotnet fsi examples/distributed.fsx -- --epochs 3
//   mpirun -np 2 dotnet fsi examples/distributed.fsx -- --epochs 3
// In exact mode the ranks split every global batch of 128 and end with the parameters one
// process would have, so test_accuracy is the same either way. Only rank 0 prints.
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"

open Functional.Datasets
open Functional.Distributed
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.FSharp

let argument name fallback =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) name) with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> fallback

let epochs, trainCount = argument "--epochs" 3, int64 (argument "--train" 8000)
let struct (images, labels) = Mnist.Load()

let train =
    Data.ofTrees (images.narrow (0L, 0L, trainCount)) (labels.narrow (0L, 0L, trainCount))

let test =
    Data.ofTrees (images.narrow (0L, 8000L, 2000L)) (labels.narrow (0L, 8000L, 2000L))

let model =
    Flatten()
    --> Dense(256L, activation = ActivationFunction.Relu)
    --> BatchNorm()
    --> Dropout(0.2)
    --> Dense(10L)
    |> Model.compile
        (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
        (Optim.adam 1e-3)
        [ SparseCategoricalAccuracy() ]
        [| 1L; 28L; 28L |]

let result =
    model
    |> Model.fit
        { FitSettings.defaults with
            Epochs = epochs
            BatchSize = 128
            Verbosity = Functional.Training.Verbosity.Lines
            Distribution = Some(DataParallel.Exact())
        }
        train

let accuracy = (model |> Model.evaluate test).["accuracy"]
let ranks = Communicator.World

if ranks.IsRoot then
    printfn "ranks=%d" ranks.Size
    printfn "communication_share=%.3f" (Seq.last result.History.StepTimes).CommunicationShare
    printfn "test_accuracy=%.4f" accuracy
