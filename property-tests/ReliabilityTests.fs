/// Randomness is a key, concurrency is defined, and the F# transforms take any output tree.
module Functional.PropertyTests.ReliabilityTests

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees
open Functional.Autodiff
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Training
open Functional.Persistence
open Functional.FSharp
open Support

let private applyTrain (layer: ILayer) (v: Variables) (x: torch.Tensor) (key: uint64) =
    let struct (y, _) = layer.Apply(v, x, ApplyContext.Train key)
    y

type Pair =
    {
        Sum: torch.Tensor
        Product: torch.Tensor
    }

let tests =
    testList
        "reliability"
        [
            testPropertyWithConfig
                { config with maxTest = 10 }
                "Checkpoint of a function with dropout has the plain function's gradient (same key, same masks)"
            <| fun (seed: uint32) ->
                scoped (fun () ->
                    let network =
                        Sequential(Dense(8L, ActivationFunction.Tanh), Dropout(0.5), Dense(3L))

                    use rng = new torch.Generator(uint64 seed)
                    let v = network.Init(rng, [| 8L |])
                    let x = torch.randn ([| 4L; 8L |], generator = rng)

                    let f (p: TensorTree) =
                        TensorTree.Leaf(applyTrain network (Variables(p, v.State)) x (uint64 seed))

                    let loss (g: Func<TensorTree, TensorTree>) =
                        Func<TensorTree, torch.Tensor>(fun p -> g.Invoke(p).[""].square().sum())

                    let plain = Transforms.Grad(loss (Func<_, _> f)).Invoke v.Params

                    let rematerialised =
                        Transforms.Grad(loss (Transforms.Checkpoint(Func<_, _> f))).Invoke v.Params

                    expectTreesClose "checkpointed gradient" 1e-6 rematerialised plain
                    true)

            testCase "a layer's mask depends on (key, its path), not on the layers around it"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.ones (6L, 10L)
                    let alone = Sequential(Dropout(0.5, name = "drop"))

                    let withAnother =
                        Sequential(Activation(ActivationFunction.Linear, name = "added"), Dropout(0.5, name = "drop"))

                    let mask (network: ILayer) key = applyTrain network Variables.None x key
                    let v = withAnother.Init(new torch.Generator(0UL), [| 10L |])
                    let struct (y, _) = withAnother.Apply(v, x, ApplyContext.Train 5UL)
                    expectClose "same mask for the same key and path" 0.0 (mask alone 5UL) y
                    Expect.isFalse (torch.allclose (mask alone 5UL, mask alone 6UL)) "another key, another mask"
                    // Two dropout layers in one model draw different masks from one key.
                    let twin =
                        Sequential(
                            Dropout(0.5, name = "first"),
                            Dropout(0.0, name = "id"),
                            Dropout(0.5, name = "second")
                        )

                    let a = applyTrain (Sequential(Dropout(0.5, name = "first"))) Variables.None x 9UL
                    let b = applyTrain (Sequential(Dropout(0.5, name = "second"))) Variables.None x 9UL
                    Expect.isFalse (torch.allclose (a, b)) "sibling layers get their own keys"
                    applyTrain twin (twin.Init(new torch.Generator(0UL), [| 10L |])) x 9UL |> ignore)

            testCase "Predict on other threads while Fit runs on a BatchNorm model: consistent results, no corruption"
            <| fun () ->
                let network = Sequential(Dense(16L), BatchNorm(), Dense(1L))
                use model = new Model(network, [| 4L |], Loss.MeanSquaredError, Optimizer.Adam 1e-2)
                let x, y = torch.randn (512L, 4L), torch.randn (512L, 1L)
                use stop = new CancellationTokenSource()

                let predictions =
                    [
                        for _ in 1..2 ->
                            Task.Run(fun () ->
                                let mutable count = 0

                                while not stop.IsCancellationRequested do
                                    use scope = torch.NewDisposeScope()
                                    let p = model.Predict(x.narrow (0L, 0L, 257L), batchSize = 64)

                                    if p.shape.[0] <> 257L || not (p.isfinite().all().item<bool>()) then
                                        failwith "bad prediction"

                                    count <- count + 1

                                count)
                    ]
                // Fit until the checks below are done (a callback stops it at the next epoch end).
                let stopFit =
                    { new Callback() with
                        override _.OnEpochEnd(context, epoch, _) =
                            if stop.IsCancellationRequested && epoch >= 2 then
                                context.StopTraining "test done"
                    }

                let fit =
                    Task.Run(fun () ->
                        model.Fit(
                            x,
                            y,
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                Epochs = 10_000,
                                BatchSize = 16,
                                Callbacks = [| stopFit |]
                            )
                        )
                        |> ignore)

                while not model.IsFitting do
                    Thread.Sleep 10

                Thread.Sleep 300

                Expect.throwsT<InvalidOperationException>
                    (fun () -> model.Fit(x, y, FitOptions(Verbosity = Verbosity.Silent)) |> ignore)
                    "a second Fit is refused"

                Expect.throwsT<InvalidOperationException>
                    (fun () -> model.RestoreVariables(model.State.Params, model.State.ModelState))
                    "no swap under a running Fit"

                stop.Cancel()
                fit.Wait()
                let counts = predictions |> List.map (fun t -> t.Result)
                Expect.isTrue (counts |> List.forall (fun c -> c > 0)) "every reader predicted while Fit ran"
                model.Predict(x.narrow (0L, 0L, 1L)) |> ignore

            testCase "F# customVjp and checkpoint take record outputs"
            <| fun () ->
                scoped (fun () ->
                    let f (x: torch.Tensor) = { Sum = x + 1.0; Product = x * 2.0 }

                    let custom =
                        Diff.customVjp (fun (x: torch.Tensor) -> f x, x) (fun _ (v: Pair) -> v.Sum + v.Product * 2.0)

                    let x = vector [ 1.0; 2.0 ]
                    let g = Diff.grad (fun x -> let p = custom x in (p.Sum + p.Product).sum()) x
                    expectClose "custom rule" 1e-9 g (vector [ 3.0; 3.0 ])
                    let remat = Diff.checkpoint f
                    let h = Diff.grad (fun x -> let p = remat x in (p.Sum * p.Product).sum()) x
                    expectClose "checkpoint" 1e-9 h (x * 4.0 + 2.0))

            testCase "a save removes only what saves wrote: other files in the folder stay"
            <| fun () ->
                scoped (fun () ->
                    let folder =
                        IO.Path.Combine(IO.Path.GetTempPath(), $"functional-keep-{Guid.NewGuid():N}")

                    try
                        IO.Directory.CreateDirectory folder |> ignore

                        let others =
                            [
                                "model.onnx"
                                "model.py"
                                "state.notes.txt"
                                "state.7.safetensors"
                                ".cache.tmp"
                                ".model.json.123.tmp"
                            ]

                        for name in others do
                            IO.File.WriteAllText(IO.Path.Combine(folder, name), "mine")

                        use model = new Model(Dense(2L), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)

                        for _ in 1..3 do
                            ModelFile.Save(folder, model)

                        for name in others do
                            Expect.isTrue (IO.File.Exists(IO.Path.Combine(folder, name))) $"{name} is kept"

                        Expect.equal
                            (IO.Directory.GetFiles(folder, "model.0*").Length)
                            1
                            "one generation of the description"
                    finally
                        IO.Directory.Delete(folder, true))

            testCase "class weights: binary outputs with 0/1 targets, and rows an ignore index leaves out"
            <| fun () ->
                scoped (fun () ->
                    let quiet weights =
                        FitOptions(Verbosity = Verbosity.Silent, BatchSize = 4, ClassWeights = readOnlyDict weights)

                    use binary =
                        new Model(Dense(1L), [| 3L |], Loss.BinaryCrossEntropy(true), Optimizer.Sgd 0.1)

                    binary.Fit(
                        torch.randn (8L, 3L),
                        torch.randint(0L, 2L, [| 8L; 1L |]).to_type torch.float32,
                        quiet [ 0L, 1.0; 1L, 5.0 ]
                    )
                    |> ignore

                    use sparse =
                        new Model(
                            Dense(3L),
                            [| 3L |],
                            Loss.SparseCategoricalCrossEntropy(true, ignoreIndex = -100L),
                            Optimizer.Sgd 0.1
                        )

                    let labels = torch.tensor ([| 0L; -100L; 2L; 1L; -100L; 0L; 1L; 2L |])
                    let history = sparse.Fit(torch.randn (8L, 3L), labels, quiet [ 2L, 3.0 ])
                    Expect.isTrue (Double.IsFinite history.["loss"].[0]) "a finite loss")

            testCase "a batch source that runs out after the first epoch ends training; one with nothing is an error"
            <| fun () ->
                scoped (fun () ->
                    let x, y = torch.randn (8L, 3L), torch.randn (8L, 2L)

                    let source (epochs: int) =
                        { new IBatchSource with
                            member _.Count = 8L

                            member _.Batches epoch =
                                if epoch < epochs then
                                    seq { new Batch(x.clone (), y.clone ()) }
                                else
                                    Seq.empty
                        }

                    use model = new Model(Dense(2L), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)

                    let history =
                        model.Fit(source 1, FitOptions(Verbosity = Verbosity.Silent, Epochs = 3))

                    Expect.stringContains (string history.StopReason) "ran out" "stopped with a reason"

                    Expect.throwsT<InvalidOperationException>
                        (fun () -> model.Fit(source 0, FitOptions(Verbosity = Verbosity.Silent)) |> ignore)
                        "no data at all")
        ]
