// A GAN on a 2-D toy distribution with a hand-written two-tape loop: one forward pass per
// step, then each player's gradient of its own loss for its own parameters (F# records as
// parameter trees). Real points lie on a ring of radius 2; the sliced Wasserstein distance
// between generated and real samples shows the generator learning. Under mpirun the same loop
// trains data-parallel: rank 0's players are broadcast at the start, each rank draws its own
// samples, and both players' gradients are averaged over the ranks before every update.
//   dotnet fsi examples/gan.fsx -- --steps 1500
//   mpirun -np 2 dotnet fsi examples/gan.fsx -- --steps 1500
#r "../FSharpApi/bin/Release/net10.0/TorchSharp.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.Core.dll"
#r "../FSharpApi/bin/Release/net10.0/Functional.FSharp.dll"

open System
open TorchSharp
open Functional.Autodiff
open Functional.Distributed
open Functional.Losses
open Functional.Optimizers
open Functional.FSharp

let steps =
    match fsi.CommandLineArgs |> Array.tryFindIndex ((=) "--steps") with
    | Some i -> int fsi.CommandLineArgs.[i + 1]
    | None -> 1500

let batch = 128L
let ranks = Communicator.World
torch.manual_seed 0L |> ignore
// Each rank its own samples; the players start from rank 0's (broadcast below).
let rng = new torch.Generator(uint64 ranks.Rank)

type Dense = { W: torch.Tensor; B: torch.Tensor }

type Mlp =
    {
        Hidden1: Dense
        Hidden2: Dense
        Out: Dense
    }

let dense (inputs: int64) (outputs: int64) =
    {
        W = torch.randn ([| inputs; outputs |], generator = rng) * sqrt (2.0 / float inputs)
        B = torch.zeros outputs
    }

let mlp inputs outputs =
    {
        Hidden1 = dense inputs 32L
        Hidden2 = dense 32L 32L
        Out = dense 32L outputs
    }

let apply (p: Mlp) (x: torch.Tensor) =
    let layer (d: Dense) (h: torch.Tensor) = h.matmul d.W + d.B

    x
    |> layer p.Hidden1
    |> torch.nn.functional.relu
    |> layer p.Hidden2
    |> torch.nn.functional.relu
    |> layer p.Out

let realSamples (n: int64) =
    let angle = torch.rand ([| n |], generator = rng) * (2.0 * Math.PI)
    let radius = 2.0 + 0.1 * torch.randn ([| n |], generator = rng)
    torch.stack ([| radius * angle.cos (); radius * angle.sin () |], 1L)

let generate g n =
    apply g (torch.randn ([| n; 2L |], generator = rng))

/// Sliced Wasserstein-1 over 64 random directions.
let distance (a: torch.Tensor) (b: torch.Tensor) =
    use _ = torch.no_grad ()

    let directions =
        torch.nn.functional.normalize (torch.randn ([| 2L; 64L |], generator = rng), dim = 0L)

    let sorted (x: torch.Tensor) =
        let struct (values, _) = x.matmul(directions).sort(0L) in values

    (sorted a - sorted b).abs().mean().item<float32>() |> float

let mutable g = Collectives.broadcast ranks (mlp 2L 2L)
let mutable d = Collectives.broadcast ranks (mlp 2L 1L)

let gOptimizer, dOptimizer =
    Optimizer.Adam(1e-3, beta1 = 0.5), Optimizer.Adam(1e-3, beta1 = 0.5)

let mutable gState = Optim.init gOptimizer g
let mutable dState = Optim.init dOptimizer d
let bce = Loss.BinaryCrossEntropy(fromLogits = true)

/// Rank 0 prints.
let report (line: string) =
    if ranks.IsRoot then
        printfn "%s" line

let startDistance = distance (generate g 2000L) (realSamples 2000L)
report $"step    0  distance %.3f{startDistance}"

for step in 1..steps do
    use _ = torch.NewDisposeScope()
    use genTape = new GradientTape()
    use discTape = new GradientTape()
    Tape.watch genTape g |> ignore
    Tape.watch discTape d |> ignore
    // One forward pass serves both players.
    let fakeLogits = apply d (generate g batch)
    let realLogits = apply d (realSamples batch)
    let genLoss = bce.Invoke(fakeLogits, torch.ones_like fakeLogits)

    let discLoss =
        bce.Invoke(realLogits, torch.ones_like realLogits)
        + bce.Invoke(fakeLogits, torch.zeros_like fakeLogits)

    genTape.StopRecording()
    discTape.StopRecording()
    // The global batch's gradients: each player's averaged over the ranks (a copy in one process).
    let gGrad = Tape.gradient genTape genLoss g |> Collectives.mean ranks
    let dGrad = Tape.gradient discTape discLoss d |> Collectives.mean ranks
    // Each player's update gives its old parameters and state away; the new ones outlive the
    // step's scope, which frees everything else.
    let g', gState' = Train.applyGradients gOptimizer gGrad g gState
    let d', dState' = Train.applyGradients dOptimizer dGrad d dState
    g <- g'
    d <- d'
    gState <- gState'
    dState <- dState'

    if step % 500 = 0 then
        report $"step %4d{step}  distance %.3f{distance (generate g 2000L) (realSamples 2000L)}"

let finalDistance = distance (generate g 2000L) (realSamples 2000L)
// Every rank applied the same averaged gradients to the same start: the players agree bit for bit.
let checksum =
    float ((Tree.flatten g).sum().item<float32>() + (Tree.flatten d).sum().item<float32>())

let highest, lowest =
    ranks.AllReduce([| checksum |], ReduceOp.Max), ranks.AllReduce([| checksum |], ReduceOp.Min)

report $"ranks={ranks.Size}"
report $"ranks_agree=%d{if highest = lowest then 1 else 0}"
report $"start_distance=%.4f{startDistance}"
report $"final_distance=%.4f{finalDistance}"
