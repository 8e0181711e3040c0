/// Native memory: repeated transforms must not leak (the bench `grad-memory` runs 10,000 calls).
module Functional.PropertyTests.MemoryTests

open System
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Autodiff
open Functional.Diagnostics

let tests =
    testList "memory" [
        testCase "resident memory stays flat over 3,000 valueAndGrad calls of a small model" <| fun () ->
            let parameters =
                TensorTree.Of(struct ("w1", torch.randn(64L, 128L)), struct ("b1", torch.zeros(128L)),
                              struct ("w2", torch.randn(128L, 10L)), struct ("b2", torch.zeros(10L)))
            let x = torch.randn(32L, 64L)
            let loss (p: TensorTree) = ((x.matmul(p.["w1"]) + p.["b1"]).tanh().matmul(p.["w2"]) + p.["b2"]).pow((2.0).ToScalar()).mean()
            let step = Transforms.ValueAndGrad(Func<TensorTree, torch.Tensor>(loss))
            let run n =
                for _ in 1..n do
                    use _ = torch.NewDisposeScope()
                    step.Invoke parameters |> ignore
            run 300
            GC.Collect()
            let before = ProcessMemory.ResidentMb()
            run 3000
            GC.Collect()
            let growth = ProcessMemory.ResidentMb() - before
            // Each call allocates about 0.1 MB of tensors: a leak would grow by hundreds of MB.
            Expect.isLessThan growth 40.0 $"resident memory grew by {growth:F1} MB"
    ]
