namespace Functional.FSharp

open Functional.Autodiff

/// GradientTape with F# values of tensors: `Tape.watch tape p` then `Tape.gradient tape loss p`.
[<RequireQualifiedAccess>]
module Tape =
    /// Watches every leaf of `value`; returns it.
    let watch (tape: GradientTape) (value: 'P) : 'P =
        tape.Watch(Tree.toTree value) |> ignore
        value

    /// Gradients of the scalar `target` with respect to the leaves of `sources`, shaped like it.
    let gradient (tape: GradientTape) (target: TorchSharp.torch.Tensor) (sources: 'P) : 'P =
        Tree.ofTree sources (tape.Gradient(target, Tree.toTree sources))
