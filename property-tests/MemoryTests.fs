/// Native memory: repeated transforms must not leak (the bench `grad-memory` runs 10,000 calls).
module Functional.PropertyTests.MemoryTests

open System
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Autodiff
open Functional.Diagnostics

let private parameters () =
    TensorTree.Of(
        struct ("w1", torch.randn (64L, 128L)),
        struct ("b1", torch.zeros (128L)),
        struct ("w2", torch.randn (128L, 10L)),
        struct ("b2", torch.zeros (10L))
    )

let private dense (p: TensorTree) (h: torch.Tensor) =
    (h.matmul (p.["w1"]) + p.["b1"]).tanh().matmul(p.["w2"]) + p.["b2"]

/// Runs `step` after a warm-up; returns how much resident memory grew over `calls` more.
let private growth (calls: int) (step: unit -> unit) =
    let run n =
        for _ in 1..n do
            use _ = torch.NewDisposeScope()
            step ()

    run (calls / 10)
    GC.Collect()
    let before = ProcessMemory.ResidentMb()
    run calls
    GC.Collect()
    ProcessMemory.ResidentMb() - before

let tests =
    testList
        "memory"
        [
            testCase "resident memory stays flat over 3,000 valueAndGrad calls of a small model"
            <| fun () ->
                let p, x = parameters (), torch.randn (32L, 64L)

                let step =
                    Transforms.ValueAndGrad(Func<TensorTree, torch.Tensor>(fun p -> (dense p x).square().mean()))

                let grown = growth 3000 (fun () -> step.Invoke p |> ignore)
                // Each call allocates about 0.1 MB of tensors: a leak would grow by hundreds of MB.
                Expect.isLessThan grown 40.0 $"resident memory grew by {grown:F1} MB"

            testCase "resident memory stays flat over 2,000 gradients through checkpoint and a custom rule"
            <| fun () ->
                let p, x = parameters (), torch.randn (32L, 64L)

                let remat =
                    Transforms.Checkpoint(Func<TensorTree, TensorTree>(fun t -> TensorTree.Leaf(dense t x)))

                let square =
                    Transforms.CustomVjp(
                        Func<torch.Tensor, torch.Tensor>(fun t -> t * t),
                        Func<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>(fun t _ dy -> 2.0 * t * dy)
                    )

                let grad =
                    Transforms.Grad(
                        Func<TensorTree, torch.Tensor>(fun p -> (square.Invoke(remat.Invoke(p).[""])).mean())
                    )

                let grown = growth 2000 (fun () -> grad.Invoke p |> ignore)
                Expect.isLessThan grown 40.0 $"resident memory grew by {grown:F1} MB"
        ]
