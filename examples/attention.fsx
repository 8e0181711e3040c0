// A custom attention layer, written as plain F# functions, inside a functional-API model.
// Each sequence has one marked step (feature 0 is 1 there); the label is whether feature 1 at
// that step is positive. Self-attention mixes the steps; the custom attention pooling learns
// which step to read.
//   dotnet fsi examples/attention.fsx -- --epochs 15
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"

open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.FSharp

let epochs =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) "--epochs") with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> 15

let time, features = 8L, 4L
let rng = new torch.Generator(0UL)

let sequences (n: int64) =
    let x = torch.randn ([| n; time; features |], generator = rng)
    let marked = torch.randint (0L, time, [| n |], generator = rng)
    x.select(2L, 0L).copy_(torch.nn.functional.one_hot (marked, time)) |> ignore
    let atMarked = x.gather (1L, marked.view(n, 1L, 1L).expand(n, 1L, features))
    x, atMarked.select(1L, 0L).select(1L, 1L).gt(torch.tensor 0.0f).to_type(torch.int64)

let trainX, trainY = sequences 4000L
let testX, testY = sequences 1000L

/// The custom layer kind: weights = softmax over time of (h . query) / temperature; output =
/// the weighted sum of the steps. Its configuration is an F# record, so it saves and loads.
type PoolingConfig = { Temperature: float }
type PoolingParams = { Query: torch.Tensor }

let attentionPooling =
    Layer.define
        {
            Kind = "attention_pooling"
            OutputShape = fun _ shape -> [| shape.[1] |]
            Init =
                fun _ rng shape ->
                    {
                        Query = torch.randn ([| shape.[1] |], generator = rng) * 0.1
                    },
                    ()
            Apply =
                fun config _ p () h ->
                    let weights = (h.matmul (p.Query) / config.Temperature).softmax(-1L)
                    (weights.unsqueeze (-1L) * h).sum(1L), ()
        }

let tokens = Graph.Input([| time; features |], "tokens")
let hidden = Dense(32L, ActivationFunction.Tanh).Call(tokens)
let attended = Graph.Add(hidden, MultiHeadAttention(2L, 16L).Call(hidden))
let pooled = (attentionPooling { Temperature = 1.0 } "pooling").Call(attended)
let logits = Dense(2L).Call(Dense(32L, ActivationFunction.Relu).Call(pooled))

use model =
    FunctionalModel([ tokens ], [ logits ], "marked_step")
    |> Model.compile
        (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
        (Optim.adam 3e-3)
        [ SparseCategoricalAccuracy() ]
        [| time; features |]

let test = Data.ofTrees testX testY

model
|> Model.fit
    { FitSettings.defaults with
        Epochs = epochs
        BatchSize = 64
        Validation = Some test
    }
    (Data.ofTrees trainX trainY)
|> ignore

printfn "test_accuracy=%.4f" (model |> Model.evaluate test).["accuracy"]
