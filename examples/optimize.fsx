// Train the README's MNIST CNN, prune 80% of its weights while fine-tuning, quantize it to int8
// (calibrated on 512 training digits), export the int8 model to ONNX and classify the test
// digits with ONNX Runtime alone. Build first (./build.sh does), then:
//   dotnet fsi examples/optimize.fsx -- --epochs 3 --train 8000
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"
#r "../integrations/Onnx/bin/Release/net10.0/Functional.Onnx.dll"
#r "../integrations/Onnx/bin/Release/net10.0/Microsoft.ML.OnnxRuntime.dll"

open System
open System.IO
open Microsoft.ML.OnnxRuntime
open Microsoft.ML.OnnxRuntime.Tensors
open TorchSharp
open Functional.Datasets
open Functional.Export
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Persistence
open Functional.FSharp

let argument name fallback =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) name) with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> fallback

let epochs, trainCount = argument "--epochs" 3, int64 (argument "--train" 8000)
let struct (images, labels) = Mnist.Load()

let trainX, trainY =
    images.narrow (0L, 0L, trainCount), labels.narrow (0L, 0L, trainCount)

let testX, testY =
    images.narrow (0L, 8000L, 2000L), labels.narrow (0L, 8000L, 2000L)

let train, test = Data.ofTrees trainX trainY, Data.ofTrees testX testY

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
        (Optim.adam 1e-3)
        [ SparseCategoricalAccuracy() ]
        [| 1L; 28L; 28L |]

let settings =
    { FitSettings.defaults with
        Epochs = epochs
        BatchSize = 128
        Verbosity = Functional.Training.Verbosity.Silent
    }

model |> Model.fit settings train |> ignore
let denseAccuracy = (model |> Model.evaluate test).["accuracy"]

// Prune: 0 to 80% of every kernel's weights over two thirds of one fine-tuning epoch, then fold the masks in.
let steps = (trainCount + 127L) / 128L
let pruning = model |> Prune.model (Prune.polynomial 0.0 0.8 0L (steps * 2L / 3L))
pruning |> Model.fit { settings with Epochs = 1 } train |> ignore
let pruned = Prune.strip pruning
printf "%O" (Prune.report pruned)
let prunedAccuracy = (pruned |> Model.evaluate test).["accuracy"]

// Quantize: int8 weights per channel, uint8 activations calibrated on 512 training digits.
let int8 = pruned |> Quantize.calibrated (trainX.narrow (0L, 0L, 512L))

let folder =
    Path.Combine(Path.GetTempPath(), $"functional-optimize-fsx-{Environment.ProcessId}")

ModelFile.Save(Path.Combine(folder, "float"), pruned, includeOptimizerState = false)
ModelFile.Save(Path.Combine(folder, "int8"), int8, includeOptimizerState = false)

let bytes saved =
    Directory.GetFiles(Path.Combine(folder, saved))
    |> Array.sumBy (fun f -> FileInfo(f).Length)

let onnxPath = Path.Combine(folder, "mnist-int8.onnx")
OnnxExport.Save(onnxPath, int8)

// ONNX Runtime alone from here on: it runs the QuantizeLinear/DequantizeLinear graph as integer kernels.
let int8Accuracy =
    use session = new InferenceSession(onnxPath)
    let pixels = testX.contiguous().data<float32>().ToArray()

    let input =
        NamedOnnxValue.CreateFromTensor(
            "input",
            DenseTensor<float32>(Memory pixels, ReadOnlySpan [| 2000; 1; 28; 28 |])
        )

    use results = session.Run [ input ]

    let logits =
        torch.tensor(results |> Seq.head |> fun r -> Seq.toArray (r.AsTensor<float32>())).reshape(2000L, 10L)

    logits.argmax(1L).eq(testY).to_type(torch.float64).mean().item<float>()

printfn "dense_test_accuracy=%.4f" denseAccuracy
printfn "prune_sparsity=%.3f" (Prune.report pruned).Sparsity
printfn "prune_accuracy_delta=%.2f" (100.0 * (prunedAccuracy - denseAccuracy))
printfn "int8_test_accuracy=%.4f" int8Accuracy
printfn "int8_accuracy_delta=%.2f" (100.0 * (int8Accuracy - prunedAccuracy))
printfn "int8_file_ratio=%.3f" (float (bytes "int8") / float (bytes "float"))
Directory.Delete(folder, true)
