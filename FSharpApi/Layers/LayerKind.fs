namespace Functional.FSharp

open System.Text.Json
open System.Text.Json.Nodes
open TorchSharp
open Functional.Trees
open Functional.Layers

/// What a layer call is told: whether it trains, and its random key (folded per layer path,
/// as built-in layers get it; None in inference).
type LayerCall =
    {
        Training: bool
        Key: RandomKey option
    }

/// A kind of custom layer defined by F# functions of its configuration 'Config (an F# record
/// that System.Text.Json reads and writes): its parameters 'Params and state 'State are any F#
/// tree values (records of tensors; unit for none). Registered by `Layer.define`, its layers
/// save and load like built-in ones.
type LayerKind<'Config, 'Params, 'State> =
    {
        /// The kind's name in saved descriptions, e.g. "scaled_dense".
        Kind: string
        /// The per-example output shape for an input shape (throw a ShapeException for a bad one).
        OutputShape: 'Config -> int64[] -> int64[]
        /// Fresh parameters and state for an input shape.
        Init: 'Config -> torch.Generator -> int64[] -> 'Params * 'State
        /// The output for a batch and the new state.
        Apply: 'Config -> LayerCall -> 'Params -> 'State -> torch.Tensor -> torch.Tensor * 'State
    }

/// A layer of a kind defined in F#: configuration only, like every layer.
type DefinedLayer<'Config, 'Params, 'State>
    internal (kind: LayerKind<'Config, 'Params, 'State>, config: 'Config, name: string) =
    // Trees are rebuilt into 'Params and 'State along templates of the right structure.
    let mutable templates: ('Params * 'State) option = None

    let templatesFor (inputShape: int64[]) =
        match templates with
        | Some t -> t
        | None ->
            use rng = new torch.Generator(0UL)
            use _ = torch.NewDisposeScope()
            let t = kind.Init config rng inputShape
            templates <- Some t
            t

    /// The layer's configuration.
    member _.Configuration = config

    interface IDescribedLayer with
        member _.Name = name
        member _.Kind = kind.Kind

        member _.Config =
            let json =
                match JsonSerializer.SerializeToNode(config) with
                | :? JsonObject as o -> o
                | _ -> invalidOp $"Layer '{name}' ({kind.Kind}): its configuration must be a record (a JSON object)."

            let described = LayerConfig()

            for KeyValue(key, value) in json do
                described.Add(key, value)

            described

        member _.OutputShape inputShape = kind.OutputShape config inputShape

        member _.Init(rng, inputShape) =
            let parameters, state = kind.Init config rng inputShape
            templates <- Some(parameters, state)
            Variables(Tree.toTree parameters, Tree.toTree state)

        member _.Apply(variables, input, context) =
            let parameterTemplate, stateTemplate = templatesFor input.shape.[1..]

            let call =
                {
                    Training = context.Training
                    Key = Option.ofNullable context.Key
                }

            let output, state =
                kind.Apply
                    config
                    call
                    (Tree.ofTree parameterTemplate variables.Params)
                    (Tree.ofTree stateTemplate variables.State)
                    input

            struct (output, Tree.toTree state)
