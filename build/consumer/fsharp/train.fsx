// A new user's script: the packages from the feed, and a plain TorchSharp call first, before
// any of Functional's code runs (the fixed native shim must load all the same).
#r "nuget: Functional.FSharp, $FUNCTIONAL_VERSION"
#r "nuget: Functional-cpu, $FUNCTIONAL_VERSION"

printfn "torch_sum=%g" (TorchSharp.torch.ones(3L).sum().item<float32>())

open Functional.Datasets
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.FSharp

let struct (images, labels) = Mnist.Load()

let train =
    Data.ofTrees (images.narrow (0L, 0L, 2000L)) (labels.narrow (0L, 0L, 2000L))

let test =
    Data.ofTrees (images.narrow (0L, 8000L, 2000L)) (labels.narrow (0L, 8000L, 2000L))

let model =
    Flatten() --> Dense(64L, activation = ActivationFunction.Relu) --> Dense(10L)
    |> Model.compile
        (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
        (Optim.adam 3e-3)
        [ SparseCategoricalAccuracy() ]
        [| 1L; 28L; 28L |]

model
|> Model.fit
    { FitSettings.defaults with
        Epochs = 3
        BatchSize = 64
        Verbosity = Functional.Training.Verbosity.Silent
    }
    train
|> ignore

printfn "fsharp_test_accuracy=%.4f" (model |> Model.evaluate test).["accuracy"]
