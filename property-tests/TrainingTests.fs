/// Model: the pure step, Fit and its callbacks, Evaluate and Predict, and resuming.
module Functional.PropertyTests.TrainingTests

open System
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
open Support

/// Two Gaussian blobs in 2-D, labels 0 and 1.
let blobs (n: int64) (seed: uint64) =
    use rng = new torch.Generator(seed)
    let labels = torch.randint (0L, 2L, [| n |], generator = rng)
    let centres = labels.to_type(torch.float32).unsqueeze(1L) * 4.0f - 2.0f
    torch.randn ([| n; 2L |], generator = rng) * 0.7f + centres, labels

let private classifier (seed: uint64) (optimizer: GradientTransformation) =
    new Model(
        Sequential(Dense(8L, ActivationFunction.Tanh), Dropout(0.1), Dense(2L)),
        [| 2L |],
        Loss.SparseCategoricalCrossEntropy(fromLogits = true),
        optimizer,
        [ SparseCategoricalAccuracy() :> Metric ],
        seed
    )

let private silent = FitOptions(Verbosity = Verbosity.Silent)

let tests =
    testList
        "training"
        [
            testCase "Fit learns, logs every epoch with validation, and Evaluate agrees with the last val_ values"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 512L 1UL
                    use model = classifier 0UL (Optimizer.Adam 0.05)

                    let history =
                        model.Fit(
                            x,
                            y,
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                Epochs = 5,
                                BatchSize = 64,
                                ValidationSplit = 0.25
                            )
                        )

                    Expect.equal history.Epochs 5 "epochs"

                    Expect.sequenceEqual
                        (Seq.sort history.Names)
                        [ "accuracy"; "loss"; "val_accuracy"; "val_loss" ]
                        "logged names"

                    Expect.isLessThan history.["loss"].[4] history.["loss"].[0] "loss falls"
                    Expect.isGreaterThan history.["val_accuracy"].[4] 0.95 "separable blobs are learned"

                    let evaluation =
                        model.Evaluate(x.narrow (0L, 384L, 128L), y.narrow (0L, 384L, 128L))

                    Expect.floatClose
                        Accuracy.high
                        evaluation.["accuracy"]
                        history.["val_accuracy"].[4]
                        "same held-out data"

                    let predictions = model.Predict(x, batchSize = 100)
                    Expect.sequenceEqual predictions.shape [| 512L; 2L |] "predict shape")

            testCase "the pure step changes nothing it is given; the same seed gives the same run"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 64L 2UL
                    use a = classifier 3UL (Optimizer.Adam 0.01)
                    use b = classifier 3UL (Optimizer.Adam 0.01)
                    let before = a.State.Params.Clone()
                    let struct (next, _, _) = a.TrainStep(a.State, x, y)
                    expectTreesClose "inputs untouched" 0.0 a.State.Params before
                    Expect.equal next.Step 1L "step counted"
                    let struct (other, _, _) = b.TrainStep(b.State, x, y)
                    expectTreesClose "deterministic" 0.0 next.Params other.Params)

            testCase "Fit's in-place steps give exactly what the pure TrainStep gives"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 96L 10UL

                    for optimizer in
                        [
                            Optimizer.Adam 0.01
                            Optimizer.Sgd(0.1, momentum = 0.9, nesterov = true)
                            Optimizer.AdamW 0.01
                            Optimizer.RmsProp 0.01
                        ] do
                        use fitted = classifier 11UL optimizer

                        fitted.Fit(
                            x,
                            y,
                            FitOptions(Verbosity = Verbosity.Silent, Epochs = 2, BatchSize = 32, Shuffle = false)
                        )
                        |> ignore

                        use stepped = classifier 11UL optimizer
                        let mutable state = stepped.State

                        for _ in 1..2 do
                            for batch in TensorBatches(x, y, 32).Batches 0 do
                                let struct (next, _, _) = stepped.TrainStep(state, batch)
                                state <- next

                        expectTreesClose "parameters" 1e-6 fitted.State.Params state.Params
                        expectTreesClose "optimizer state" 1e-6 fitted.State.OptState state.OptState
                        Expect.equal fitted.State.Step state.Step "steps")

            testCase "stopping and resuming from a saved TrainState gives the same final parameters"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 128L 4UL
                    let batches = TensorBatches(x, y, 32, shuffle = true, seed = 9UL)

                    let runSteps (model: Model) (state: TrainState) (epochs: int list) =
                        let mutable s = state

                        for epoch in epochs do
                            for batch in batches.Batches epoch do
                                let struct (next, _, _) = model.TrainStep(s, batch)
                                s <- next

                        s

                    use straight = classifier 5UL (Optimizer.AdamW 0.02)
                    let final = runSteps straight straight.State [ 0; 1; 2; 3 ]
                    use first = classifier 5UL (Optimizer.AdamW 0.02)
                    let halfway = runSteps first first.State [ 0; 1 ]
                    // "Save" by copying every tensor, then resume in a fresh model.
                    let saved =
                        TrainState(
                            halfway.Params.Clone(),
                            halfway.ModelState.Clone(),
                            halfway.OptState.Clone(),
                            halfway.Step,
                            halfway.Seed
                        )

                    use resumed = classifier 999UL (Optimizer.AdamW 0.02)
                    resumed.Resume saved
                    let resumedFinal = runSteps resumed resumed.State [ 2; 3 ]
                    expectTreesClose "parameters" 0.0 resumedFinal.Params final.Params
                    expectTreesClose "optimizer state" 0.0 resumedFinal.OptState final.OptState)

            testCase "a NaN loss stops training, says at which step, and keeps the last good parameters"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 64L 6UL
                    let poisoned = x.clone ()
                    poisoned.[40L, 0L] <- scalar(nan).to_type(torch.float32)
                    use model = classifier 0UL (Optimizer.Sgd 0.1)

                    let history =
                        model.Fit(
                            poisoned,
                            y,
                            FitOptions(Verbosity = Verbosity.Silent, Epochs = 3, BatchSize = 16, Shuffle = false)
                        )

                    Expect.isSome (Option.ofObj history.StopReason) "stopped"
                    Expect.stringContains history.StopReason "step 3" "the third batch holds the NaN"
                    Expect.equal model.State.Step 2L "two good steps kept"

                    Expect.isTrue
                        (model.State.Params.Leaves
                         |> Seq.forall (fun t -> t.isfinite().all().item<bool>()))
                        "finite parameters")

            testCase "early stopping stops and restores the best epoch's parameters"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 256L 7UL
                    use model = classifier 0UL (Optimizer.Sgd 0.5)
                    let snapshots = Collections.Generic.List<TensorTree>()

                    let record =
                        LambdaCallback(
                            onEpochEnd = fun context _ _ -> snapshots.Add(context.Model.State.Params.Clone())
                        )
                    // Only an improvement of more than 1.0 counts: after the first epoch none does.
                    let stopping =
                        EarlyStopping("val_loss", patience = 1, minDelta = 1.0, restoreBestWeights = true)

                    let history =
                        model.Fit(
                            x,
                            y,
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                Epochs = 20,
                                BatchSize = 32,
                                ValidationSplit = 0.25,
                                Callbacks = [| record :> Callback; stopping |]
                            )
                        )

                    Expect.equal history.Epochs 3 "best epoch, then two without improvement"
                    Expect.stringContains history.StopReason "early stopping" "reason"
                    Expect.equal stopping.BestEpoch 0 "the first epoch was best"
                    expectTreesClose "best parameters restored" 0.0 model.State.Params snapshots.[0]

                    Expect.isFalse
                        (torch.allclose (model.State.Params.Flatten(), snapshots.[2].Flatten()))
                        "not the last epoch's")

            testCase "reduce-on-plateau lowers the learning rate; a per-epoch scheduler sets it"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 128L 12UL
                    use model = classifier 0UL (Optimizer.Adam 0.01)
                    // Nothing counts as improvement (minDelta 10): after patience 1, every other epoch reduces.
                    let reduce =
                        ReduceLearningRateOnPlateau("loss", factor = 0.5, patience = 1, minDelta = 10.0)

                    model.Fit(
                        x,
                        y,
                        FitOptions(
                            Verbosity = Verbosity.Silent,
                            Epochs = 5,
                            BatchSize = 64,
                            Callbacks = [| reduce :> Callback |]
                        )
                    )
                    |> ignore

                    let multiplier () =
                        (LearningRateState.Multipliers model.State.OptState).[0].item<float>()

                    Expect.floatClose Accuracy.high (multiplier ()) 0.25 "halved twice"
                    let frozen = LearningRateScheduler(fun epoch -> if epoch = 0 then 0.0 else 1.0)
                    let before = model.State.Params.Clone()

                    model.Fit(
                        x,
                        y,
                        FitOptions(
                            Verbosity = Verbosity.Silent,
                            Epochs = 1,
                            BatchSize = 64,
                            Callbacks = [| frozen :> Callback |]
                        )
                    )
                    |> ignore

                    expectTreesClose "a zero multiplier freezes the parameters" 0.0 model.State.Params before
                    Expect.floatClose Accuracy.high (multiplier ()) 0.0 "set by the scheduler")

            testCase "the CSV logger writes a header and a row per epoch"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 64L 13UL
                    use model = classifier 0UL (Optimizer.Sgd 0.1)

                    let path =
                        Path.Combine(Path.GetTempPath(), $"functional-log-{Guid.NewGuid():N}.csv")

                    try
                        model.Fit(
                            x,
                            y,
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                Epochs = 3,
                                BatchSize = 32,
                                ValidationSplit = 0.25,
                                Callbacks = [| CsvLogger(path) :> Callback |]
                            )
                        )
                        |> ignore

                        let lines = File.ReadAllLines path
                        Expect.equal lines.[0] "epoch,accuracy,loss,val_accuracy,val_loss" "header"
                        Expect.equal lines.Length 4 "three epochs"
                        Expect.stringStarts lines.[3] "3," "epoch numbers"
                    finally
                        File.Delete path)

            testCase "class weights scale each example's loss"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 32L 8UL
                    use plain = classifier 1UL (Optimizer.Sgd 0.0)
                    use weighted = classifier 1UL (Optimizer.Sgd 0.0)

                    let once (model: Model) weights =
                        model
                            .Fit(
                                x,
                                y,
                                FitOptions(
                                    Verbosity = Verbosity.Silent,
                                    BatchSize = 32,
                                    Shuffle = false,
                                    ClassWeights = weights
                                )
                            )
                            .["loss"].[0]

                    let uniform = once plain (readOnlyDict [ 0L, 1.0; 1L, 1.0 ])
                    let doubled = once weighted (readOnlyDict [ 0L, 2.0; 1L, 2.0 ])
                    Expect.floatClose Accuracy.medium doubled (2.0 * uniform) "weight 2 doubles the loss")

            testCase "inputs of the wrong shape name the model and both shapes"
            <| fun () ->
                scoped (fun () ->
                    use model = classifier 0UL (Optimizer.Sgd 0.1)

                    expectThrowsWith<ShapeException> [ "sequential"; "(batch, 2)"; "(4, 3)" ] (fun () ->
                        model.Predict(torch.ones (4L, 3L)) |> ignore)

                    expectThrowsWith<ArgumentException> [ "same number of examples" ] (fun () ->
                        model.Fit(torch.ones (4L, 2L), torch.ones (3L), silent) |> ignore))

            testCase "step times show where training time goes; a slow data source shows as input wait"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 64L 14UL
                    use model = classifier 0UL (Optimizer.Adam 0.01)

                    let fast =
                        model.Fit(x, y, FitOptions(Verbosity = Verbosity.Silent, BatchSize = 16, Epochs = 1))

                    let times = fast.StepTimes.[0]
                    Expect.equal times.Steps 4L "four steps"
                    Expect.isGreaterThan times.Forward TimeSpan.Zero "forward timed"
                    Expect.isGreaterThan times.Backward TimeSpan.Zero "backward timed"
                    Expect.isGreaterThan times.Optimizer TimeSpan.Zero "optimizer timed"
                    Expect.isLessThan times.InputWaitShare 0.5 "in-memory data keeps up"

                    let slow =
                        { new IBatchSource with
                            member _.Count = 64L

                            member _.Batches epoch =
                                seq {
                                    for batch in TensorBatches(x, y, 16).Batches epoch do
                                        Threading.Thread.Sleep 50
                                        yield batch
                                }
                        }

                    use output = new StringWriter()

                    let history =
                        model.Fit(slow, FitOptions(Epochs = 1, ShowStepTimes = true, Output = output))

                    Expect.isGreaterThan history.StepTimes.[0].InputWaitShare 0.5 "waiting for a slow source dominates"
                    Expect.stringContains (output.ToString()) "time: input " "shown on request")

            testCase "progress: one plain line per epoch when the output is not a terminal"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 64L 9UL
                    use model = classifier 0UL (Optimizer.Sgd 0.1)
                    use output = new StringWriter()

                    model.Fit(x, y, FitOptions(Epochs = 2, BatchSize = 32, Output = output))
                    |> ignore

                    let lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
                    Expect.equal lines.Length 2 "two epochs, two lines"
                    Expect.stringStarts lines.[0] "Epoch 1/2 - 2 steps - " "Keras-like"
                    Expect.stringContains lines.[1] "accuracy: " "metrics"
                    Expect.isFalse (output.ToString().Contains '\r') "no carriage returns")

            testCase "progress: the bar shows the time left and per step; a Progress sink gets every epoch and its end"
            <| fun () ->
                scoped (fun () ->
                    let x, y = blobs 256L 9UL
                    use model = classifier 0UL (Optimizer.Sgd 0.1)
                    use output = new StringWriter()
                    let reports = Collections.Generic.List<TrainingProgress>()

                    let sink =
                        { new IProgress<TrainingProgress> with
                            member _.Report p = reports.Add p
                        }

                    model.Fit(
                        x,
                        y,
                        FitOptions(
                            Epochs = 2,
                            BatchSize = 32,
                            ValidationSplit = 0.25,
                            Verbosity = Verbosity.Bar,
                            Output = output,
                            Progress = sink
                        )
                    )
                    |> ignore

                    let text = output.ToString()
                    Expect.stringContains text "Epoch 1/2 6/6 [==============================]" "a full bar"
                    Expect.isTrue (text.Contains "us/step" || text.Contains "ms/step") "time per step"
                    let ends = reports |> Seq.filter (fun r -> r.EpochEnded) |> Seq.toList
                    Expect.sequenceEqual [ for r in ends -> r.Epoch ] [ 0; 1 ] "an end per epoch"

                    for r in ends do
                        Expect.equal r.Step 6L "every step done"
                        Expect.equal r.StepsPerEpoch (Nullable 6L) "the steps are known"
                        Expect.equal r.Fraction (Nullable 1.0) "all of it"
                        Expect.isTrue (r.Logs.ContainsKey "val_accuracy") "with the validation logs"
                        Expect.isGreaterThan r.TimePerStep TimeSpan.Zero "a time per step"

                    let last = reports |> Seq.filter (fun r -> not r.EpochEnded) |> Seq.last
                    Expect.equal last.Step 6L "the last step is reported"
                    Expect.isTrue (last.Logs.ContainsKey "loss") "with the running loss"

                    let midway =
                        TrainingProgress(
                            1,
                            10,
                            63L,
                            Nullable 469L,
                            TimeSpan.FromSeconds 0.5,
                            Nullable(TimeSpan.FromSeconds 65.2),
                            TimeSpan.FromMilliseconds 8.0,
                            readOnlyDict [ "loss", 0.45123 ],
                            false
                        )

                    Expect.equal
                        (string midway)
                        "Epoch 2/10 - 63/469 - ETA: 1:06 - 8ms/step - loss: 0.4512"
                        "Keras's line")

            testCase "monitoring callbacks take the direction from the metric, not from its name"
            <| fun () ->
                scoped (fun () ->
                    let run (callback: Callback) (metrics: Metric list) =
                        use model =
                            new Model(Dense(1L), [| 2L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1, metrics)

                        let x, y = torch.randn (16L, 2L), torch.randn (16L, 1L)

                        model.Fit(
                            x,
                            y,
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                Epochs = 2,
                                BatchSize = 8,
                                ValidationData = LabeledData(x, y),
                                Callbacks = [| callback |]
                            )
                        )
                        |> ignore

                    let lower = EarlyStopping("val_accumulated_mae")
                    run lower [ MeanAbsoluteError("accumulated_mae") ]
                    Expect.isFalse lower.HigherIsBetter "an error metric named 'accumulated_...' is lower-is-better"
                    let higher = ReduceLearningRateOnPlateau("val_r2")
                    run higher [ R2Score() ]
                    Expect.isTrue higher.HigherIsBetter "R2 says higher is better"

                    let loss =
                        ModelCheckpoint(
                            Path.Combine(Path.GetTempPath(), $"ckpt-{Guid.NewGuid():N}.safetensors"),
                            "val_my_loss",
                            saveBestOnly = false
                        )

                    Expect.throwsT<InvalidOperationException>
                        (fun () -> loss.HigherIsBetter |> ignore)
                        "decided when training begins"

                    expectThrowsWith<InvalidOperationException> [ "'val_mystery'"; "higherIsBetter" ] (fun () ->
                        run (EarlyStopping("val_mystery")) [])

                    let given = EarlyStopping("val_mystery", higherIsBetter = true)
                    Expect.isTrue given.HigherIsBetter "an explicit direction stands")

            testCase "TrainTest: seeded, disjoint and covering; stratified keeps each class's share"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.arange(100L).reshape(100L, 1L).to_type torch.float32

                    let y =
                        torch.cat (
                            [|
                                torch.zeros (80L, dtype = torch.int64)
                                torch.ones (20L, dtype = torch.int64)
                            |]
                        )

                    let struct (train, test) = DataSplit.TrainTest(x, y, 0.25, 7UL)
                    let struct (train2, _) = DataSplit.TrainTest(x, y, 0.25, 7UL)
                    expectClose "same seed, same split" 0.0 train.Inputs.Value train2.Inputs.Value
                    Expect.equal test.Rows 25L "a quarter held out"

                    let all =
                        (let struct (v, _) =
                            torch.cat([| train.Inputs.Value; test.Inputs.Value |]).flatten().sort() in

                         v)

                    expectClose "disjoint and covering" 0.0 all (torch.arange(100L).to_type torch.float32)
                    let struct (_, stratified) = DataSplit.TrainTest(x, y, 0.25, 7UL, stratify = true)
                    Expect.equal (stratified.Targets.Value.sum().item<int64>()) 5L "a quarter of the 20 ones"
                    Expect.equal stratified.Rows 25L "a quarter of the 80 zeros too"

                    expectThrowsWith<ArgumentOutOfRangeException> [ "testFraction" ] (fun () ->
                        DataSplit.TrainTest(x, y, 1.0) |> ignore))

            testCase
                "a cancelled Fit stops at a step boundary: end hooks run, the state is the last step's, training can go on"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.randn (64L, 3L)
                    let y = x.sum ([| 1L |], true)

                    use model =
                        new Model(Dense(1L), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.05)

                    use cancel = new System.Threading.CancellationTokenSource()
                    let mutable ended = false

                    let stopper =
                        { new Callback() with
                            override _.OnBatchEnd(_, step, _) =
                                if step = 3L then
                                    cancel.Cancel()

                            override _.OnTrainEnd _ = ended <- true
                        }

                    let options =
                        FitOptions(Epochs = 5, BatchSize = 8, Verbosity = Verbosity.Silent, Callbacks = [| stopper |])

                    Expect.throwsT<OperationCanceledException>
                        (fun () -> model.Fit(x, y, options, cancel.Token) |> ignore)
                        "Fit throws"

                    Expect.isTrue ended "OnTrainEnd ran"
                    Expect.equal model.State.Step 3L "three steps, then the boundary"
                    let struct (next, _, _) = model.TrainStep(model.State, x, y)
                    Expect.equal next.Step 4L "the state is consistent and steps on"

                    let history =
                        model.Fit(x, y, FitOptions(Epochs = 1, BatchSize = 8, Verbosity = Verbosity.Silent))

                    Expect.equal history.Epochs 1 "training goes on after a cancellation"

                    Expect.throwsT<OperationCanceledException>
                        (fun () -> model.Evaluate(x, y, 8, cancel.Token) |> ignore)
                        "Evaluate"

                    Expect.throwsT<OperationCanceledException>
                        (fun () -> model.Predict(x, 8, cancel.Token) |> ignore)
                        "Predict")

            testCase "Predict takes one example without a batch dimension"
            <| fun () ->
                scoped (fun () ->
                    use model =
                        new Model(
                            Sequential(Dense(4L, ActivationFunction.Tanh), Dense(2L)),
                            [| 3L |],
                            Loss.MeanSquaredError,
                            Optimizer.Sgd 0.05
                        )

                    let example = torch.randn (3L)
                    let one = model.Predict example
                    Expect.sequenceEqual one.shape [| 2L |] "no batch dimension in, none out"
                    expectClose "the batch of one's row" 0.0 one ((model.Predict(example.unsqueeze 0L)).[0L])

                    expectThrowsWith<ShapeException> [ "(batch, 3)" ] (fun () ->
                        model.Predict(torch.randn (4L)) |> ignore))

            testCase "one step: donating the old state updates it in place and gives the pure step's result"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.randn (16L, 3L)
                    let y = x.sum ([| 1L |], true)

                    for optimizer in [ Optimizer.Adam 1e-2; Optimizer.Sgd(0.05, momentum = 0.9) ] do
                        use model =
                            new Model(
                                Sequential(Dense(4L, ActivationFunction.Tanh), BatchNorm(), Dense(1L)),
                                [| 3L |],
                                Loss.MeanSquaredError,
                                optimizer
                            )

                        let mutable kept = model.State
                        let mutable donated = model.State.Copy()
                        let start = model.State.Params.Clone()

                        for _ in 1..4 do
                            let struct (next, _, _) = model.TrainStep(kept, x, y)
                            kept <- next
                            let old = donated
                            let struct (advanced, _, _) = model.TrainStep(old, x, y, donate = true)

                            Expect.isTrue
                                (obj.ReferenceEquals(advanced.Params.Leaves.[0], old.Params.Leaves.[0]))
                                "the parameters were updated in place"

                            old.DisposeExcept advanced
                            donated <- advanced

                        expectTreesClose "parameters" 1e-5 donated.Params kept.Params
                        expectTreesClose "model state" 1e-6 donated.ModelState kept.ModelState
                        Expect.equal donated.Step 4L "steps"
                        expectTreesClose "the model's own state was not touched" 0.0 model.State.Params start

                        expectThrowsWith<ArgumentException> [ "owns its State" ] (fun () ->
                            model.TrainStep(model.State, x, y, donate = true) |> ignore))

            testCase
                "a weight average follows decay * average + (1 - decay) * parameters; applied at the end, the model takes it"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.randn (16L, 3L)
                    let y = x.sum ([| 1L |], true)
                    use model = new Model(Dense(1L), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)
                    let start = model.State.Params.Clone()
                    let seen = ResizeArray<TensorTree>()

                    let record =
                        LambdaCallback(onBatchEnd = fun context _ _ -> seen.Add(context.Model.State.Params.Clone()))

                    use average = new WeightAverage(0.5)

                    model.Fit(
                        x,
                        y,
                        FitOptions(
                            Epochs = 1,
                            BatchSize = 4,
                            Shuffle = false,
                            Verbosity = Verbosity.Silent,
                            Callbacks = [| record; average |]
                        )
                    )
                    |> ignore

                    Expect.equal seen.Count 4 "four steps"

                    let expected =
                        seen
                        |> Seq.fold (fun (avg: TensorTree) p -> avg.Zip(p, fun a b -> 0.5 * a + 0.5 * b)) start

                    expectTreesClose "the model holds the average" 1e-6 model.State.Params expected
                    Expect.isNull (box average.Average) "handed to the model"
                    use kept = new WeightAverage(0.9, applyAtEnd = false)

                    model.Fit(
                        x,
                        y,
                        FitOptions(Epochs = 1, BatchSize = 4, Verbosity = Verbosity.Silent, Callbacks = [| kept |])
                    )
                    |> ignore

                    Expect.isNotNull (box kept.Average) "kept by the callback"

                    Expect.isGreaterThan
                        ((kept.Average.["kernel"] - model.State.Params.["kernel"]).abs().max().item<float32>())
                        0.0f
                        "not applied"

                    expectThrowsWith<ArgumentOutOfRangeException> [ "decay" ] (fun () ->
                        new WeightAverage(1.0) |> ignore))
        ]
