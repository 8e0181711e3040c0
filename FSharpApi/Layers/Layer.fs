namespace Functional.FSharp

open System.Text.Json
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
                struct (apply parameters input, variables.State)
        }

    /// Registers a layer kind defined by F# functions and returns its constructor
    /// (configuration -> name -> layer). Its layers are first-class: Summary, save and load (the
    /// configuration is saved as JSON and read back into 'Config), freezing, and the training
    /// flag, random key and state as built-in layers get them. Define a kind once per process
    /// (defining it again replaces its constructor).
    let define (kind: LayerKind<'Config, 'Params, 'State>) : 'Config -> string -> ILayer =
        if System.String.IsNullOrWhiteSpace kind.Kind then
            invalidArg (nameof kind) "A layer kind needs a name."

        let make config name =
            new DefinedLayer<'Config, 'Params, 'State>(kind, config, name)

        LayerRegistry.Register(
            kind.Kind,
            fun config name ->
                let value =
                    try
                        match JsonSerializer.Deserialize<'Config>(config.Json) with
                        | null -> invalidArg "config" $"'{kind.Kind}' read a null configuration."
                        | value -> value
                    with :? JsonException as e ->
                        invalidArg "config" $"'{kind.Kind}' cannot read its configuration: {e.Message}"

                make value (Option.ofObj name |> Option.defaultValue kind.Kind) :> IDescribedLayer
        )

        fun config name -> make config name :> ILayer

    /// Layers one after the other (a Sequential).
    let sequential (layers: ILayer list) : ILayer = Sequential(layers, null)

/// The composition operator for layers.
[<AutoOpen>]
module LayerOperators =
    /// `a --> b`: b applied to a's output (DiffSharp's composition). Chains of --> make one
    /// Sequential, not nested ones.
    let (-->) (first: ILayer) (next: ILayer) : ILayer =
        let parts (layer: ILayer) =
            match layer with
            | :? Sequential as s when s.Name = "sequential" -> [ for struct (_, l) in s.Layers -> l ]
            | other -> [ other ]

        Sequential(parts first @ parts next, null)
