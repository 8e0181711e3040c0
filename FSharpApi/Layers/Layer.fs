namespace Functional.FSharp

open TorchSharp
open Functional.Trees
open Functional.Layers

/// Custom layers from plain F# functions, usable anywhere a built-in layer is (Sequential, Model).
[<RequireQualifiedAccess>]
module Layer =
    /// A layer whose parameters are any F# tree value 'P (a record of tensors, say):
    /// `init rng inputShape` makes them, `apply parameters input` is the layer, and
    /// `outputShape inputShape` gives the per-example output shape without running data.
    /// Lists' lengths and non-tensor fields of 'P come from `init`.
    let ofFunctions
        (name: string)
        (outputShape: int64[] -> int64[])
        (init: torch.Generator -> int64[] -> 'P)
        (apply: 'P -> torch.Tensor -> torch.Tensor)
        : ILayer =
        let mutable template: 'P option = None
        let templateFor (input: torch.Tensor) =
            match template with
            | Some t -> t
            | None ->
                use rng = new torch.Generator(0UL)
                use _ = torch.NewDisposeScope()
                let t = init rng input.shape.[1..]
                template <- Some t
                t
        { new ILayer with
            member _.Name = name
            member _.OutputShape inputShape = outputShape inputShape
            member _.Init(rng, inputShape) =
                let parameters = init rng inputShape
                template <- Some parameters
                Variables(Tree.toTree parameters, TensorTree.Empty)
            member _.Apply(variables, input, _) =
                let parameters = Tree.ofTree (templateFor input) variables.Params
                struct (apply parameters input, variables.State) }
