/// Models fed by name: several inputs and outputs, per-output losses and weights, sample weights.
module Functional.PropertyTests.MultiOutputTests

open System
open System.Collections.Generic
open System.IO
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training
open Functional.Persistence
open Functional.Streams
open Functional.Streams.Training
open Support

/// Two inputs ("size" and "colour") into a shared trunk, two heads: "price" (regression) and
/// "kind" (two classes).
let private network () =
    let size = Graph.Input([| 3L |], "size")
    let colour = Graph.Input([| 2L |], "colour")

    let trunk =
        Dense(8L, ActivationFunction.Tanh, name = "trunk").Call(Graph.Concatenate(0, size, colour))

    FunctionalModel(
        [ size; colour ],
        [ Dense(1L, name = "price").Call(trunk); Dense(2L, name = "kind").Call(trunk) ],
        "shop"
    )

let private outputs (priceWeight: float) (kindWeight: float) =
    readOnlyDict
        [
            "price", OutputLoss(Loss.MeanSquaredError, priceWeight)
            "kind",
            OutputLoss(
                Loss.SparseCategoricalCrossEntropy(fromLogits = true),
                kindWeight,
                [ SparseCategoricalAccuracy() :> Metric ]
            )
        ]

let private model (optimizer: GradientTransformation) (priceWeight: float) (kindWeight: float) =
    new Model(network (), outputs priceWeight kindWeight, optimizer, 3UL)

/// Seeded data whose price and kind both follow from the inputs.
let private data (n: int64) (seed: uint64) =
    use rng = new torch.Generator(seed)

    let size, colour =
        torch.randn ([| n; 3L |], generator = rng), torch.randn ([| n; 2L |], generator = rng)

    let price = (size.sum (1L, keepdim = true) - colour.narrow (1L, 0L, 1L)) * 0.5f

    let kind =
        (colour.narrow(1L, 1L, 1L).squeeze(1L).gt(torch.tensor 0.0f)).to_type torch.int64

    TensorTree.Of(struct ("size", size), struct ("colour", colour)),
    TensorTree.Of(struct ("price", price), struct ("kind", kind))

let private options (epochs: int) =
    FitOptions(Verbosity = Verbosity.Silent, Shuffle = false, BatchSize = 16, Epochs = epochs)

let private validated (epochs: int) (validation: LabeledData) (callbacks: Callback list) =
    FitOptions(
        Verbosity = Verbosity.Silent,
        Shuffle = false,
        BatchSize = 16,
        Epochs = epochs,
        ValidationData = validation,
        Callbacks = Array.ofList callbacks
    )

let tests =
    testList
        "named inputs and outputs"
        [
            testCase "a two-input, two-output model trains with Fit; logs name each output's loss and metrics"
            <| fun () ->
                scoped (fun () ->
                    let x, y = data 256L 1UL
                    let vx, vy = data 64L 2UL
                    use m = model (Optimizer.Adam 0.03) 1.0 1.0
                    Expect.equal (List.ofSeq m.InputNames) [ "size"; "colour" ] "inputs by name"
                    Expect.equal (List.ofSeq m.OutputNames) [ "price"; "kind" ] "outputs by the layers that make them"
                    let before = m.Evaluate(LabeledData(vx, vy))
                    let history = m.Fit(LabeledData(x, y), validated 8 (LabeledData(vx, vy)) [])

                    for name in
                        [
                            "loss"
                            "price_loss"
                            "kind_loss"
                            "kind_accuracy"
                            "val_loss"
                            "val_price_loss"
                            "val_kind_accuracy"
                        ] do
                        Expect.contains history.Names name $"logs {name}"

                    let after = m.Evaluate(LabeledData(vx, vy))
                    Expect.isLessThan after.["price_loss"] (before.["price_loss"] * 0.3) "the regression head learns"
                    Expect.isGreaterThan after.["kind_accuracy"] 0.9 "the classification head learns"

                    Expect.floatClose
                        Accuracy.high
                        history.["val_kind_accuracy"].[7]
                        after.["kind_accuracy"]
                        "val logs are Evaluate's")

            testCase "the loss is the weighted sum of the outputs' losses, in TrainStep and Evaluate"
            <| fun () ->
                scoped (fun () ->
                    let x, y = data 32L 3UL
                    use m = model (Optimizer.Sgd 0.1) 2.0 0.25
                    let predictions = m.Predict x

                    let price =
                        Loss.MeanSquaredError.Invoke(predictions.["price"], y.["price"]).item<float32>()
                        |> float

                    let kind =
                        Loss
                            .SparseCategoricalCrossEntropy(fromLogits = true)
                            .Invoke(predictions.["kind"], y.["kind"])
                            .item<float32>()
                        |> float

                    let logs = m.Evaluate(LabeledData(x, y), batchSize = 5)
                    Expect.floatClose Accuracy.medium logs.["price_loss"] price "price loss"
                    Expect.floatClose Accuracy.medium logs.["kind_loss"] kind "kind loss"
                    Expect.floatClose Accuracy.medium logs.["loss"] (2.0 * price + 0.25 * kind) "weighted total"
                    let struct (next, loss, stepPredictions) = m.TrainStep(m.State, new Batch(x, y))

                    Expect.floatClose
                        Accuracy.medium
                        (loss.item<float32>() |> float)
                        (2.0 * price + 0.25 * kind)
                        "the step's loss"

                    Expect.equal (List.ofSeq stepPredictions.Paths) [ "price"; "kind" ] "predictions by output name"
                    next.DisposeExcept(m.State))

            testCase "sample weights: all ones change nothing; weights of 2 under SGD equal twice the learning rate"
            <| fun () ->
                scoped (fun () ->
                    let x, y = data 48L 4UL

                    let fitWith (lr: float) (weights: torch.Tensor option) =
                        use m = model (Optimizer.Sgd lr) 1.0 1.0
                        m.Fit(LabeledData(x, y, Option.toObj weights), options 2) |> ignore
                        m.State.Params.Clone()

                    let plain = fitWith 0.05 None
                    expectTreesClose "ones" 1e-6 (fitWith 0.05 (Some(torch.ones 48L))) plain
                    expectTreesClose "twos" 1e-5 (fitWith 0.025 (Some(torch.full (48L, 2.0f)))) plain
                    use m = model (Optimizer.Sgd 0.1) 1.0 1.0
                    let w = torch.rand 48L
                    let weighted = m.Evaluate(LabeledData(x, y, w))
                    let p = m.Predict x
                    let perPrice = Loss.MeanSquaredError.PerExample(p.["price"], y.["price"])

                    Expect.floatClose
                        Accuracy.medium
                        weighted.["price_loss"]
                        ((perPrice * w).mean().item<float32>() |> float)
                        "Evaluate weighs each example")

            testCase "a model fed by name saves its outputs' losses and loads with no arguments"
            <| fun () ->
                scoped (fun () ->
                    let x, y = data 32L 5UL
                    use m = model (Optimizer.Adam 0.01) 1.5 0.5
                    m.Fit(LabeledData(x, y), options 1) |> ignore
                    let folder = Path.Combine(Path.GetTempPath(), $"named-{Guid.NewGuid():N}")
                    ModelFile.Save(folder, m)
                    use loaded = ModelFile.LoadModel folder
                    Expect.equal loaded.Outputs.["price"].Weight 1.5 "weights saved"
                    Expect.equal loaded.Outputs.["kind"].Metrics.[0].Name "accuracy" "metrics saved"
                    let a, b = m.Predict x, loaded.Predict x
                    expectTreesClose "same predictions" 0.0 b a

                    Expect.floatClose
                        Accuracy.high
                        (loaded.Evaluate(LabeledData(x, y)).["loss"])
                        (m.Evaluate(LabeledData(x, y)).["loss"])
                        "same loss"

                    use again = ModelFile.LoadModel(folder, outputs 1.0 1.0, Optimizer.Sgd 0.1)
                    Expect.equal again.Outputs.["price"].Weight 1.0 "losses of your own"

                    expectThrowsWith<ArgumentException> [ "fed by name"; "OutputLoss" ] (fun () ->
                        ModelFile.LoadModel(folder, Loss.MeanSquaredError, Optimizer.Sgd 0.1) |> ignore)

                    Directory.Delete(folder, true))

            testCase "batch sources and streams carry trees"
            <| fun () ->
                scoped (fun () ->
                    let x, y = data 64L 6UL
                    let batches = [ for start in 0L..16L..48L -> LabeledData(x, y).Narrow(start, 16L) ]

                    let stream =
                        DataStream.FromGenerator(fun () ->
                            batches |> Seq.map (fun d -> new Batch(d.Inputs.Clone(), d.Targets.Clone())))

                    use streamed = model (Optimizer.Sgd 0.05) 1.0 1.0
                    streamed.Fit(stream.ToBatchSource(64L), options 2) |> ignore
                    use inMemory = model (Optimizer.Sgd 0.05) 1.0 1.0
                    inMemory.Fit(LabeledData(x, y), options 2) |> ignore
                    expectTreesClose "the same steps" 1e-6 streamed.State.Params inMemory.State.Params)

            testCase "monitoring a named output's metric takes its direction from the metric"
            <| fun () ->
                scoped (fun () ->
                    let x, y = data 32L 7UL
                    use m = model (Optimizer.Sgd 0.05) 1.0 1.0
                    let stopping = EarlyStopping("val_kind_accuracy", patience = 5)
                    m.Fit(LabeledData(x, y), validated 1 (LabeledData(x, y)) [ stopping ]) |> ignore
                    Expect.isTrue stopping.HigherIsBetter "accuracy is higher-is-better"
                    let price = EarlyStopping("val_price_loss")
                    m.Fit(LabeledData(x, y), validated 1 (LabeledData(x, y)) [ price ]) |> ignore
                    Expect.isFalse price.HigherIsBetter "an output's loss is lower-is-better")

            testCase "bad trees, names and weights are clear exceptions"
            <| fun () ->
                scoped (fun () ->
                    let x, y = data 16L 8UL
                    use m = model (Optimizer.Sgd 0.05) 1.0 1.0

                    expectThrowsWith<ArgumentException> [ "no leaf 'colour'"; "size, colour" ] (fun () ->
                        m.Fit(LabeledData(TensorTree.Of(struct ("size", x.["size"])), y), options 1)
                        |> ignore)

                    expectThrowsWith<ArgumentException> [ "'extra'" ] (fun () ->
                        m.Evaluate(LabeledData(x, y.Merge(TensorTree.Of(struct ("extra", torch.zeros 16L)))))
                        |> ignore)

                    expectThrowsWith<ShapeException> [ "input 'colour'"; "(batch, 2)" ] (fun () ->
                        m.Predict(
                            TensorTree.Of(struct ("size", x.["size"]), struct ("colour", torch.zeros (16L, 5L)))
                        )
                        |> ignore)

                    expectThrowsWith<ShapeException> [ "same number of examples" ] (fun () ->
                        m.Fit(LabeledData(x, y, torch.ones 3L), options 1) |> ignore)

                    expectThrowsWith<ArgumentException> [ "no output 'cost'"; "price, kind" ] (fun () ->
                        new Model(
                            network (),
                            readOnlyDict [ "cost", OutputLoss(Loss.MeanSquaredError) ],
                            Optimizer.Sgd 0.1
                        )
                        |> ignore)

                    expectThrowsWith<ArgumentException> [ "SampleWeights" ] (fun () ->
                        m.Fit(
                            LabeledData(x, y),
                            FitOptions(Verbosity = Verbosity.Silent, ClassWeights = readOnlyDict [ 1L, 2.0 ])
                        )
                        |> ignore)

                    expectThrowsWith<InvalidOperationException> [ "2 outputs" ] (fun () ->
                        m.Predict(torch.zeros (2L, 3L)) |> ignore)

                    expectThrowsWith<ArgumentOutOfRangeException> [ "weight" ] (fun () ->
                        OutputLoss(Loss.MeanSquaredError, -1.0) |> ignore))
        ]
