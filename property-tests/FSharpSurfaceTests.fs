/// The F#-first surface: Model.compile/fit/evaluate/predict with records and options, the -->
/// composition operator, and custom layer kinds defined by F# functions that save and load.
module Functional.PropertyTests.FSharpSurfaceTests

open System
open System.IO
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Training
open Functional.Persistence
open Functional.FSharp
open Support

/// A custom kind: y = scale * (x W + b), with dropout on x when training and a running count
/// of training calls as its state.
type ScaledConfig =
    {
        Units: int64
        Scale: float
        Dropout: float
    }

type ScaledParams =
    {
        Kernel: torch.Tensor
        Bias: torch.Tensor
    }

type ScaledState = { Calls: torch.Tensor }

let scaledDense =
    Layer.define
        {
            Kind = "test_scaled_dense"
            OutputShape =
                fun c shape ->
                    if shape.Length <> 1 then
                        raise (
                            ShapeException $"scaled_dense takes (batch, features), not a rank-{shape.Length + 1} input"
                        )

                    [| c.Units |]
            Init =
                fun c rng shape ->
                    {
                        Kernel = torch.randn ([| shape.[0]; c.Units |], generator = rng) * 0.3f
                        Bias = torch.zeros c.Units
                    },
                    { Calls = torch.zeros 1L }
            Apply =
                fun c call p s x ->
                    let x =
                        match call.Key with
                        | Some key when call.Training && c.Dropout > 0.0 ->
                            use rng = key.NewGenerator()

                            let keep =
                                torch.rand(x.shape, generator = rng).ge(torch.tensor c.Dropout).to_type x.dtype

                            x * keep / float32 (1.0 - c.Dropout)
                        | _ -> x

                    (x.matmul p.Kernel + p.Bias) * float32 c.Scale,
                    (if call.Training then { Calls = s.Calls + 1.0f } else s)
        }

let private blobs = TrainingTests.blobs

let tests =
    testList
        "F# surface"
        [
            testCase "Model.compile, fit, evaluate and predict with records, lists and options"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 256L 1UL
                    let train, test = Data.ofTrees x y |> Data.split 0.25 3UL true

                    use model =
                        Dense(8L, ActivationFunction.Tanh) --> Dense(2L)
                        |> Model.compile
                            (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
                            (Optim.adam 0.05)
                            [ SparseCategoricalAccuracy() ]
                            [| 2L |]

                    let result =
                        model
                        |> Model.fit
                            { FitSettings.defaults with
                                Epochs = 5
                                Verbosity = Verbosity.Silent
                                Validation = Some test
                            }
                            train

                    Expect.equal result.StopReason None "ran every epoch"
                    Expect.equal result.Logs.["val_accuracy"].Length 5 "a value per epoch"
                    let scores = model |> Model.evaluate test
                    Expect.isGreaterThan scores.["accuracy"] 0.95 "learns the blobs"
                    Expect.equal (model |> Model.predict (torch.zeros (3L, 2L))).shape [| 3L; 2L |] "predict"
                    Expect.equal (Model.classNames model) None "no class names is None, not null")

            testCase "--> makes one Sequential of a chain"
            <| fun () ->
                let chain = Dense(4L) --> Dense(3L) --> Dense(2L)

                match chain with
                | :? Sequential as s -> Expect.equal s.Layers.Count 3 "flat, not nested"
                | other -> failtestf "expected a Sequential, got %s" (other.GetType().Name)

            testCase "a layer kind defined in F# trains, sees the training flag, key and state, saves and loads"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 64L 2UL

                    let network =
                        scaledDense
                            {
                                Units = 6L
                                Scale = 0.5
                                Dropout = 0.2
                            }
                            "scaled"
                        --> Dense(2L)

                    use model =
                        network
                        |> Model.compile
                            (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
                            (Optim.adam 0.02)
                            []
                            [| 2L |]

                    let before = model |> Model.evaluate (Data.ofTrees x y)

                    model
                    |> Model.fit
                        { FitSettings.defaults with
                            Epochs = 4
                            BatchSize = 16
                            Verbosity = Verbosity.Silent
                        }
                        (Data.ofTrees x y)
                    |> ignore

                    Expect.isLessThan (model |> Model.evaluate (Data.ofTrees x y)).["loss"] before.["loss"] "trains"

                    Expect.equal
                        (model.State.ModelState.["scaled/Calls"].item<float32>())
                        16.0f
                        "the state counts the 16 training steps"

                    Expect.stringContains (Model.summary model) "scaled" "in the summary"
                    let folder = Path.Combine(Path.GetTempPath(), $"fsharp-kind-{Guid.NewGuid():N}")
                    model |> Model.save folder
                    use loaded = Model.load folder

                    expectClose
                        "same predictions after loading"
                        0.0
                        (loaded |> Model.predict x)
                        (model |> Model.predict x)

                    let config =
                        ((loaded.Network :?> Sequential).Layers.[0]
                         |> fun struct (_, l) -> l :?> DefinedLayer<ScaledConfig, ScaledParams, ScaledState>)
                            .Configuration

                    Expect.equal
                        config
                        {
                            Units = 6L
                            Scale = 0.5
                            Dropout = 0.2
                        }
                        "the configuration read back"

                    Directory.Delete(folder, true))

            testCase "Model.predictInto reads a named model's outputs into a record"
            <| fun () ->
                scoped (fun () ->
                    let input = Graph.Input([| 2L |], "x")
                    let trunk = Dense(4L, name = "trunk").Call(input)

                    let network =
                        FunctionalModel(
                            [ input ],
                            [ Dense(1L, name = "a").Call(trunk); Dense(3L, name = "b").Call(trunk) ]
                        )

                    use model =
                        network
                        |> Model.compileNamed (Map [ "a", OutputLoss(Loss.MeanSquaredError) ]) (Optim.sgd 0.1)

                    let outputs =
                        model
                        |> Model.predictInto
                            {|
                                a = torch.empty 0L
                                b = torch.empty 0L
                            |}
                            {| x = torch.zeros (5L, 2L) |}

                    Expect.equal outputs.a.shape [| 5L; 1L |] "output a"
                    Expect.equal outputs.b.shape [| 5L; 3L |] "output b")

            testCase
                "a frozen base is a constant of the step: no gradient flows into it, and a fully frozen model trains nothing"
            <| fun () ->
                scoped (fun () ->
                    let mutable inputNeedsGrad = []

                    let probe =
                        Layer.ofFunctions "probe" id (fun _ _ -> ()) (fun () h ->
                            inputNeedsGrad <- h.requires_grad :: inputNeedsGrad
                            h)

                    let x, y = blobs 32L 4UL

                    use model =
                        Dense(4L, name = "base") --> probe --> Dense(2L, name = "head")
                        |> Model.compile
                            (Loss.SparseCategoricalCrossEntropy(fromLogits = true))
                            (Optim.adam 0.01)
                            []
                            [| 2L |]

                    let quiet =
                        { FitSettings.defaults with
                            Epochs = 1
                            BatchSize = 16
                            Verbosity = Verbosity.Silent
                        }

                    model |> Model.fit quiet (Data.ofTrees x y) |> ignore
                    Expect.isTrue (List.forall id inputNeedsGrad) "trained, the base's output carries gradients"
                    model.Freeze "base"
                    inputNeedsGrad <- []
                    let before = model.State.Params.Clone()
                    model |> Model.fit quiet (Data.ofTrees x y) |> ignore
                    Expect.isFalse (List.exists id inputNeedsGrad) "frozen, autodiff records nothing below the head"
                    expectTreesClose "the base stays" 0.0 (model.State.Params.Select "base") (before.Select "base")
                    model.Freeze "head"
                    let frozenAll = model.State.Params.Clone()
                    let result = model |> Model.fit quiet (Data.ofTrees x y)
                    Expect.equal result.Epochs 1 "a fully frozen model still runs its epochs"
                    expectTreesClose "nothing moves" 0.0 model.State.Params frozenAll)
        ]
