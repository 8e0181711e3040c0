// Fits y = 3 x1 - 2 x2 + 0.5 (plus noise) with a two-layer network: the model is a pure
// function of an F# record of parameters, and `Train.step` differentiates the loss, runs the
// optimizer and frees what the step no longer needs (no Dispose calls). Build first
// (./build.sh does), then:
//   dotnet fsi examples/regression.fsx -- --steps 400
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"

open TorchSharp
open Functional.FSharp

let steps =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) "--steps") with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> 400

let learningRate = 0.1
torch.manual_seed 0L |> ignore

type Dense =
    {
        Kernel: torch.Tensor
        Bias: torch.Tensor
    }

type Model = { Hidden: Dense; Output: Dense }

let x = torch.randn (256L, 2L)

let y =
    (3.0 * x.select (1L, 0L) - 2.0 * x.select (1L, 1L)
     + 0.5
     + 0.01 * torch.randn 256L)
        .unsqueeze
        1L

let dense (inputs: int64) (outputs: int64) =
    {
        Kernel = torch.randn (inputs, outputs) * 0.5
        Bias = torch.zeros outputs
    }

let mutable parameters =
    {
        Hidden = dense 2L 16L
        Output = dense 16L 1L
    }

let predict (p: Model) (input: torch.Tensor) =
    let layer (d: Dense) (v: torch.Tensor) = v.matmul d.Kernel + d.Bias
    input |> layer p.Hidden |> torch.tanh |> layer p.Output

let loss p = (predict p x - y).square().mean()

let optimizer = Optim.sgd learningRate
let mutable state = Optim.init optimizer parameters
let mutable initialLoss = 0.0
let mutable lastLoss = 0.0

for step in 0 .. steps - 1 do
    let value, next, nextState = Train.step optimizer loss parameters state
    parameters <- next
    state <- nextState
    lastLoss <- value

    if step = 0 then
        initialLoss <- lastLoss

    if step % 100 = 0 then
        printfn "step %4d  loss %.5f" step lastLoss

printfn "step %4d  loss %.5f" steps lastLoss
printfn "initial_loss=%g" initialLoss
printfn "final_loss=%g" lastLoss
