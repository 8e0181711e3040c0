/// Model optimization: magnitude pruning as an optimizer transformation (schedules, scopes,
/// structure, exclusion, resume), Strip and Shrink, the sparsity report, and distillation.
module Functional.PropertyTests.ModelOptimizationTests

open System
open System.IO
open Expecto
open FsCheck
open TorchSharp
open Functional.Trees
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Persistence
open Functional.Training
open Functional.Verification
open Functional.ModelOptimization
open Support

/// Seeded blobs: 256 rows of 6 features, 3 classes.
let private blobs () = classBlobs 11UL 256L 6L 3L 2.0 0.5

let private mlp () =
    Sequential(Dense(32L, ActivationFunction.Relu), Dense(16L, ActivationFunction.Relu), Dense(3L)) :> ILayer

let private model (optimizer: GradientTransformation) =
    new Model(
        mlp (),
        [| 6L |],
        Loss.SparseCategoricalCrossEntropy(true),
        optimizer,
        [ SparseCategoricalAccuracy() :> Metric ],
        5UL
    )

let private fit (m: Model) epochs =
    let x, y = blobs ()

    m.Fit(x, y, FitOptions(Epochs = epochs, BatchSize = 32, Shuffle = false, Verbosity = Verbosity.Silent))
    |> ignore

let private zeros (t: torch.Tensor) =
    t.numel () - torch.count_nonzero(t).item<int64>()

let private kernels (m: Model) =
    m.State.Params.Filter(fun path _ -> path.EndsWith "kernel")

let tests =
    testList
        "model optimization"
        [
            testCase
                "schedules: constant and polynomial sparsity, mask updates on begin, every frequency steps and the end step"
            <| fun () ->
                let constant =
                    PruningSchedule.Constant(0.6, beginStep = 10L, endStep = 95L, frequency = 20L)

                Expect.equal (constant.SparsityAt 50L) 0.6 "constant"

                let updates (s: PruningSchedule) =
                    [ 0L .. 120L ] |> List.filter s.UpdatesAt

                Expect.equal (updates constant) [ 10L; 30L; 50L; 70L; 90L; 95L ] "begin, every 20, end"

                let poly =
                    PruningSchedule.Polynomial(0.1, 0.9, 100L, 200L, power = 3.0, frequency = 10L)

                Expect.floatClose Accuracy.high (poly.SparsityAt 100L) 0.1 "initial at begin"
                Expect.floatClose Accuracy.high (poly.SparsityAt 150L) (0.9 - 0.8 * 0.125) "cubic halfway"
                Expect.floatClose Accuracy.high (poly.SparsityAt 250L) 0.9 "final after end"
                Expect.isFalse (poly.UpdatesAt 99L) "not before begin"
                Expect.isFalse (poly.UpdatesAt 210L) "not after end"

                expectThrowsWith<ArgumentOutOfRangeException> [ "sparsity"; "[0, 1)" ] (fun () ->
                    PruningSchedule.Constant 1.0 |> ignore)

                expectThrowsWith<ArgumentOutOfRangeException> [ "end step" ] (fun () ->
                    PruningSchedule.Polynomial(0.0, 0.5, 10L, 5L) |> ignore)

            testPropertyWithConfig
                config
                "a polynomial schedule rises monotonically from its initial to its final sparsity"
            <| fun (a: NormalFloat) (b: NormalFloat) (length: PositiveInt) ->
                let s (x: NormalFloat) = abs (x.Get % 0.99)
                let initial, final = min (s a) (s b), max (s a) (s b)
                let schedule = PruningSchedule.Polynomial(initial, final, 5L, 5L + int64 length.Get)
                let values = [ 0L .. 5L + int64 length.Get + 3L ] |> List.map schedule.SparsityAt
                Expect.isTrue (List.pairwise values |> List.forall (fun (x, y) -> y >= x - 1e-12)) "monotone"
                Expect.floatClose Accuracy.high (List.head values) initial "starts at initial"
                Expect.floatClose Accuracy.high (List.last values) final "ends at final"

            testCase
                "per-layer magnitude pruning zeroes exactly floor(s n) weights of each kernel, keeps biases, and pruned weights stay zero"
            <| fun () ->
                use m =
                    model (Pruning.Magnitude(Optimizer.Adam 1e-2, PruningSchedule.Constant(0.75, frequency = 3L)))

                fit m 2

                for KeyValue(path, kernel) in kernels m do
                    Expect.equal (zeros kernel) (int64 (floor (0.75 * float (kernel.numel ())))) $"{path} sparsity"

                for KeyValue(path, bias) in m.State.Params.Filter(fun p _ -> p.EndsWith "bias") do
                    Expect.isLessThan (zeros bias) (bias.numel ()) $"{path} not pruned"

                let masks = Pruning.Masks(m.State.OptState)
                Expect.isNotNull masks "masks in the optimizer state"

                for KeyValue(path, mask) in masks do
                    let pruned = m.State.Params.[path].masked_select(mask.logical_not ())
                    Expect.equal (zeros pruned) (pruned.numel ()) $"{path}: every masked weight is exactly zero"

                let report = Pruning.Report m
                Expect.equal report.Parameters.Count 3 "three kernels"
                Expect.floatClose { absolute = 0.01; relative = 0.0 } report.Sparsity 0.75 "overall"
                Expect.stringContains (string report) "dense" "a table naming the kernels"
                Expect.isGreaterThan (m.Evaluate(fst (blobs ()), snd (blobs ()))).["accuracy"] 0.8 "still learns"

            testCase "fused Adam, the unfused update and the pure TrainStep prune the same weights"
            <| fun () ->
                let schedule = PruningSchedule.Constant(0.5, frequency = 2L)
                use fused = model (Pruning.Magnitude(Optimizer.Adam 1e-2, schedule))

                use chained =
                    model (
                        Pruning.Magnitude(
                            Transform.Chain(
                                Transform.ScaleByAdam(),
                                Transform.ScaleByLearningRate(Schedules.Constant 1e-2)
                            ),
                            schedule
                        )
                    )

                let x, y = blobs ()
                let mutable stepped = fused.State.Copy()

                for _ in 1..6 do
                    let struct (next, loss, _) = fused.TrainStep(stepped, x, y)
                    loss.Dispose()
                    stepped <- next

                fit fused 1
                fit chained 1
                expectTreesClose "fused vs chain" 1e-4 (kernels fused) (kernels chained)

                for KeyValue(path, kernel) in stepped.Params.Filter(fun p _ -> p.EndsWith "kernel") do
                    Expect.equal (zeros kernel) (int64 (kernel.numel () / 2L)) $"{path}: the pure step prunes too"

            testCase "global scope ranks all kernels together; the Prunable rule keeps excluded layers dense"
            <| fun () ->
                use all =
                    model (
                        Pruning.Magnitude(
                            Optimizer.Adam 1e-2,
                            PruningSchedule.Constant 0.8,
                            PruningOptions(Scope = PruningScope.Global)
                        )
                    )

                fit all 1
                let total = kernels all |> Seq.sumBy (fun k -> k.Value.numel ())
                let pruned = kernels all |> Seq.sumBy (fun k -> zeros k.Value)
                Expect.equal pruned (int64 (floor (0.8 * float total))) "floor(s n) over all kernels"

                let shares =
                    kernels all
                    |> Seq.map (fun k -> float (zeros k.Value) / float (k.Value.numel ()))
                    |> Seq.toList

                Expect.isGreaterThan (List.max shares - List.min shares) 0.01 "layers end at different sparsities"

                use kept =
                    model (
                        Pruning.Magnitude(
                            Optimizer.Adam 1e-2,
                            PruningSchedule.Constant 0.8,
                            PruningOptions(
                                Prunable = fun path -> path.EndsWith "kernel" && not (path.StartsWith "dense_2")
                            )
                        )
                    )

                fit kept 1
                let last = kept.State.Params.["dense_2/kernel"]
                Expect.equal (zeros last) 0L "the excluded layer is dense"
                Expect.equal (Pruning.Report(kept).Parameters.Count) 2 "the report covers the pruned kernels"

                expectThrowsWith<ArgumentException> [ "No parameter is prunable" ] (fun () ->
                    use _ =
                        model (
                            Pruning.Magnitude(
                                Optimizer.Adam 1e-2,
                                PruningSchedule.Constant 0.5,
                                PruningOptions(Prunable = fun _ -> false)
                            )
                        )

                    ())

                expectThrowsWith<ArgumentException> [ "PerLayer" ] (fun () ->
                    Pruning.Magnitude(
                        Optimizer.Adam 1e-2,
                        PruningSchedule.Constant 0.5,
                        PruningOptions(Scope = PruningScope.Global, Structure = PruningStructure.Units)
                    )
                    |> ignore)

            testCase
                "a polynomial schedule reaches its final sparsity at the end step, and pruning resumes exactly from a saved model"
            <| fun () ->
                let optimizer () =
                    Pruning.Magnitude(
                        Optimizer.Adam 1e-2,
                        PruningSchedule.Polynomial(0.0, 0.6, 2L, 14L, frequency = 4L)
                    )

                use straight = model (optimizer ())
                fit straight 2 // 16 steps
                let overall = (Pruning.Report straight).Sparsity
                Expect.floatClose { absolute = 0.005; relative = 0.0 } overall 0.6 "final sparsity"

                use first = model (optimizer ())
                fit first 1 // 8 steps: mid-schedule
                let mid = (Pruning.Report first).Sparsity
                Expect.isTrue (mid > 0.1 && mid < 0.6) $"mid-schedule sparsity {mid}"

                let folder =
                    Path.Combine(Path.GetTempPath(), $"functional-prune-{Guid.NewGuid():N}")

                try
                    ModelFile.Save(folder, first)

                    // The saved description names the pruning optimizer: the folder alone rebuilds it.
                    use resumed = ModelFile.LoadModel folder

                    fit resumed 1
                    expectTreesClose "resumed = straight" 0.0 resumed.State.Params straight.State.Params
                    expectTreesClose "optimizer state too" 0.0 resumed.State.OptState straight.State.OptState
                finally
                    if Directory.Exists folder then
                        Directory.Delete(folder, true)

            testCase "Strip folds the masks into a plain model with the inner optimizer's state; it predicts the same"
            <| fun () ->
                use pruned =
                    model (Pruning.Magnitude(Optimizer.Adam 1e-2, PruningSchedule.Constant 0.5))

                fit pruned 1
                use stripped = Pruning.Strip pruned
                Expect.isNull (Pruning.Masks stripped.State.OptState) "no masks left"

                Expect.isTrue
                    (stripped.State.OptState.Paths
                     |> Seq.forall (fun p -> not (p.Contains "pruning")))
                    "plain Adam state"

                Expect.isGreaterThan stripped.State.OptState.Count 0 "Adam's moments carried over"
                let x, _ = blobs ()
                expectClose "same predictions" 0.0 (stripped.Predict x) (pruned.Predict x)
                Expect.equal stripped.State.Step pruned.State.Step "step kept"

                use plain = model (Optimizer.Adam 1e-2)

                expectThrowsWith<ArgumentException> [ "does not prune" ] (fun () ->
                    use _ = Pruning.Strip plain
                    ())

            testCase
                "structured pruning removes whole units; Shrink makes the smaller MLP and CNN with the same outputs, which export to ONNX"
            <| fun () ->
                let units = PruningOptions(Structure = PruningStructure.Units)

                use pruned =
                    model (Pruning.Magnitude(Optimizer.Adam 1e-2, PruningSchedule.Constant 0.5, units))

                fit pruned 1
                let first = pruned.State.Params.["dense/kernel"]
                let deadColumns = (first.abs().sum(0L).eq(torch.tensor 0.0f)).sum().item<int64>()
                Expect.equal deadColumns 16L "half of the first layer's 32 units"
                Expect.equal (zeros pruned.State.Params.["dense/bias"]) 16L "with their biases"
                use shrunk = Pruning.Shrink pruned
                let x, _ = blobs ()
                expectClose "shrunk = pruned" 1e-5 (shrunk.Predict x) (pruned.Predict x)
                Expect.sequenceEqual shrunk.State.Params.["dense/kernel"].shape [| 6L; 16L |] "16 units"

                Expect.sequenceEqual
                    shrunk.State.Params.["dense_1/kernel"].shape
                    [| 16L; 8L |]
                    "inputs and units halved"

                Expect.sequenceEqual
                    shrunk.State.Params.["dense_2/kernel"].shape
                    [| 8L; 3L |]
                    "the output layer keeps its size"

                Expect.stringContains (shrunk.Summary()) "16" "Summary sees the new sizes"

                let saved =
                    Path.Combine(Path.GetTempPath(), $"functional-shrunk-{Guid.NewGuid():N}")

                try
                    ModelFile.Save(saved, shrunk)
                    use loaded = ModelFile.LoadModel saved
                    expectClose "saved and loaded at its new size" 0.0 (loaded.Predict x) (shrunk.Predict x)
                finally
                    Directory.Delete(saved, true)

                use cnn =
                    new Model(
                        Sequential(
                            Conv2D(8L, 3L, activation = ActivationFunction.Relu),
                            BatchNorm(),
                            MaxPool2D(),
                            Flatten(),
                            Dense(3L)
                        ),
                        [| 1L; 8L; 8L |],
                        Loss.SparseCategoricalCrossEntropy(true),
                        Pruning.Magnitude(Optimizer.Adam 1e-2, PruningSchedule.Constant 0.5, units)
                    )

                use rng = new torch.Generator(4UL)
                let images = torch.randn ([| 64L; 1L; 8L; 8L |], generator = rng)
                let labels = torch.randint (0L, 3L, [| 64L |], generator = rng)

                cnn.Fit(images, labels, FitOptions(Epochs = 2, BatchSize = 16, Verbosity = Verbosity.Silent))
                |> ignore

                use small = Pruning.Shrink cnn
                Expect.sequenceEqual small.State.Params.["conv2d/kernel"].shape [| 4L; 1L; 3L; 3L |] "4 of 8 filters"
                Expect.sequenceEqual small.State.ModelState.["batch_norm/mean"].shape [| 4L |] "batch norm follows"

                Expect.sequenceEqual
                    small.State.Params.["dense/kernel"].shape
                    [| 4L * 9L; 3L |]
                    "dense reads 4 channels of 3x3"

                expectClose "shrunk CNN = pruned CNN" 1e-5 (small.Predict images) (cnn.Predict images)

                let path =
                    Path.Combine(Path.GetTempPath(), $"functional-shrunk-{Guid.NewGuid():N}.onnx")

                try
                    Functional.Export.OnnxExport.Save(path, small)

                    expectClose
                        "ONNX Runtime runs the smaller network"
                        1e-5
                        (OnnxTests.runOnnx path images)
                        (small.Predict images)
                finally
                    File.Delete path

            testCase
                "Prune sets a trained model up to prune as it trains on: same weights, Adam's state carried, the schedule counts from there"
            <| fun () ->
                use dense = model (Optimizer.Adam 1e-2)
                fit dense 2

                use pruning =
                    Pruning.Prune(dense, PruningSchedule.Polynomial(0.0, 0.5, 0L, 4L, frequency = 2L))

                let x, _ = blobs ()
                expectClose "the same network and weights" 0.0 (pruning.Predict x) (dense.Predict x)

                expectTreesClose
                    "Adam's moments carried over"
                    0.0
                    (pruning.State.OptState.Select "inner")
                    dense.State.OptState

                Expect.equal (pruning.State.OptState.["pruning/step"].item<int64>()) 0L "the schedule starts now"
                Expect.equal (Pruning.Report(pruning).Sparsity) 0.0 "nothing pruned yet"
                fit pruning 1

                Expect.floatClose
                    { absolute = 0.01; relative = 0.0 }
                    (Pruning.Report(pruning).Sparsity)
                    0.5
                    "pruned to the final sparsity"

                Expect.isGreaterThan
                    (pruning.Evaluate(fst (blobs ()), snd (blobs ()))).["accuracy"]
                    0.8
                    "still classifies"

            testCase
                "PruningSummaries writes each pruned parameter's sparsity per epoch beside TensorBoardLogger's scalars"
            <| fun () ->
                let folder =
                    Path.Combine(Path.GetTempPath(), $"functional-prune-tb-{Guid.NewGuid():N}")

                try
                    use pruned =
                        model (Pruning.Magnitude(Optimizer.Adam 1e-2, PruningSchedule.Constant 0.6))

                    let x, y = blobs ()

                    pruned.Fit(
                        x,
                        y,
                        FitOptions(
                            Epochs = 2,
                            BatchSize = 32,
                            Verbosity = Verbosity.Silent,
                            Callbacks =
                                [|
                                    TensorBoardLogger(folder, histograms = false) :> Callback
                                    PruningSummaries(folder)
                                |]
                        )
                    )
                    |> ignore

                    let sparsity =
                        [
                            for e in TensorBoardTests.events (Path.Combine(folder, "train")) do
                                if not (isNull e.Summary) then
                                    for v in e.Summary.Value do
                                        if v.Tag = "sparsity/dense_1/kernel" then
                                            yield e.Step, v.SimpleValue
                        ]

                    Expect.equal (sparsity |> List.map fst) [ 0L; 1L ] "one value per epoch"

                    Expect.floatClose
                        { absolute = 0.01; relative = 0.0 }
                        (float (snd (List.last sparsity)))
                        0.6
                        "the sparsity"
                finally
                    if Directory.Exists folder then
                        Directory.Delete(folder, true)

            testPropertyWithConfig
                config
                "Shrink is exact: sigmoid units, batch norm shifts and padded convolutions fold into the next layer or keep their size"
            <| fun (seed: PositiveInt) ->
                scoped (fun () ->
                    let units =
                        PruningOptions(
                            Structure = PruningStructure.Units,
                            Prunable = fun p -> p.EndsWith "kernel" && not (p.StartsWith "dense_1")
                        )

                    use net =
                        new Model(
                            Sequential(
                                Conv2D(6L, 3L),
                                BatchNorm(),
                                Activation(ActivationFunction.Sigmoid),
                                Conv2D(6L, 3L, padding = Padding.Same, activation = ActivationFunction.Tanh),
                                Conv2D(4L, 3L, padding = Padding.Same, activation = ActivationFunction.Sigmoid),
                                MaxPool2D(),
                                Flatten(),
                                Dense(5L, ActivationFunction.Sigmoid),
                                Dense(2L)
                            ),
                            [| 2L; 6L; 6L |],
                            Loss.SparseCategoricalCrossEntropy(true),
                            Pruning.Magnitude(Optimizer.Adam 5e-2, PruningSchedule.Constant 0.5, units),
                            seed = uint64 seed.Get
                        )

                    use rng = new torch.Generator(uint64 seed.Get)
                    let x = torch.randn ([| 32L; 2L; 6L; 6L |], generator = rng)
                    let y = torch.randint (0L, 2L, [| 32L |], generator = rng)

                    net.Fit(x, y, FitOptions(Epochs = 2, BatchSize = 16, Verbosity = Verbosity.Silent))
                    |> ignore

                    use stripped = Pruning.Strip net
                    use shrunk = Pruning.Shrink net
                    expectClose "shrunk = stripped" 2e-5 (shrunk.Predict x) (stripped.Predict x)
                    Expect.isLessThan shrunk.State.Params.ScalarCount stripped.State.Params.ScalarCount "smaller")

            testCase
                "the distillation soft term is T^2 KL(teacher || student): zero when they agree, and GradCheck passes"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(2UL)
                    let teacher = torch.randn ([| 5L; 4L |], dtype = torch.float64, generator = rng)
                    let student = torch.randn ([| 5L; 4L |], dtype = torch.float64, generator = rng)
                    let t = 3.0
                    let p = (teacher / t).softmax(-1L)
                    let manual = (p * (p.log () - (student / t).log_softmax(-1L))).sum(-1L) * (t * t)
                    expectClose "formula" 1e-12 (Distiller.SoftTargetLoss(student, teacher, t)) manual

                    expectClose
                        "agreeing logits"
                        1e-12
                        (Distiller.SoftTargetLoss(teacher, teacher, t))
                        (torch.zeros (5L, dtype = torch.float64))

                    let report =
                        GradCheck.Check(
                            Func<torch.Tensor, torch.Tensor>(fun s -> Distiller.SoftTargetLoss(s, teacher, t).sum()),
                            student
                        )

                    Expect.isTrue report.Passed (string report))

            testCase
                "a distilled student trains with Fit; alpha 1 is plain training, alpha 0 pulls the student towards the teacher"
            <| fun () ->
                let x, y = blobs ()
                use trained = model (Optimizer.Adam 1e-2)
                fit trained 3

                let folder =
                    Path.Combine(Path.GetTempPath(), $"functional-teacher-{Guid.NewGuid():N}")

                ModelFile.Save(folder, trained)
                // The teacher comes from a saved folder, as a deployed model would.
                use teacher = ModelFile.LoadModel folder
                Directory.Delete(folder, true)

                let small () =
                    Sequential(Dense(4L, ActivationFunction.Relu), Dense(3L)) :> ILayer

                let loss = Loss.SparseCategoricalCrossEntropy(true)

                let student (alpha: float) =
                    Distiller(teacher, temperature = 4.0, alpha = alpha)
                        .Student(
                            small (),
                            [| 6L |],
                            loss,
                            Optimizer.Adam 1e-2,
                            [ SparseCategoricalAccuracy() :> Metric ],
                            9UL
                        )

                use plain =
                    new Model(
                        small (),
                        [| 6L |],
                        loss,
                        Optimizer.Adam 1e-2,
                        [ SparseCategoricalAccuracy() :> Metric ],
                        9UL
                    )

                use hardOnly = student 1.0
                fit plain 2
                fit hardOnly 2
                expectTreesClose "alpha 1 = the student's own loss" 1e-6 hardOnly.State.Params plain.State.Params

                use softOnly = student 0.0

                let disagreement (m: Model) =
                    Distiller.SoftTargetLoss(m.Predict x, teacher.Predict x, 1.0).mean().item<float32>()

                let before = disagreement softOnly
                fit softOnly 3
                Expect.isLessThan (disagreement softOnly) (before / 2.0f) "KL to the teacher falls"
                let scores = softOnly.Evaluate(x, y)

                Expect.isTrue
                    (scores.ContainsKey "loss" && scores.ContainsKey "accuracy")
                    "Evaluate runs the distillation loss"

                expectThrowsWith<ShapeException> [ "teacher"; "(3)" ] (fun () ->
                    use _ =
                        Distiller(teacher).Student(Sequential(Dense(2L)), [| 6L |], loss, Optimizer.Adam 1e-2)

                    ())

                expectThrowsWith<InvalidOperationException> [ "reads the batch's inputs" ] (fun () ->
                    Distiller(teacher).Loss(loss).PerExample(teacher.Predict x, y) |> ignore)

            testCase "the F# surface: Prune, Quantize and Distill pipe models through the same rewrites"
            <| fun () ->
                let x, y = blobs ()
                let data = Functional.FSharp.Data.ofTrees x y

                let settings =
                    { Functional.FSharp.FitSettings.defaults with
                        Epochs = 2
                        BatchSize = 32
                        Verbosity = Verbosity.Silent
                    }

                use units =
                    new Model(
                        mlp (),
                        [| 6L |],
                        Loss.SparseCategoricalCrossEntropy(true),
                        Optimizer.Adam 1e-2
                        |> Functional.FSharp.Prune.unitsOptimizer (Functional.FSharp.Prune.constant 0.5) (fun p ->
                            p.StartsWith "dense_2"),
                        [ SparseCategoricalAccuracy() :> Metric ]
                    )

                units |> Functional.FSharp.Model.fit settings data |> ignore
                use shrunk = Functional.FSharp.Prune.shrink units

                Expect.sequenceEqual
                    shrunk.State.Params.["dense/kernel"].shape
                    [| 6L; 16L |]
                    "half of the first layer's units"

                Expect.sequenceEqual shrunk.State.Params.["dense_2/kernel"].shape [| 8L; 3L |] "the kept output layer"

                use int8 =
                    shrunk
                    |> Functional.FSharp.Quantize.calibratedWith (QuantizationOptions(Skip = [| "dense_2" |])) x

                Expect.equal int8.State.Params.["dense_2/kernel"].dtype torch.float32 "skipped: float"
                Expect.equal int8.State.ModelState.["dense/kernel"].dtype torch.int8 "int8"

                use student =
                    Sequential(Dense(4L, ActivationFunction.Relu), Dense(3L))
                    |> Functional.FSharp.Distill.student
                        shrunk
                        4.0
                        0.5
                        (Loss.SparseCategoricalCrossEntropy(true))
                        (Optimizer.Adam 1e-2)
                        [ SparseCategoricalAccuracy() ]

                student |> Functional.FSharp.Model.fit settings data |> ignore
                Expect.equal student.Loss.Name "distillation" "the student learns from the teacher"

                Expect.isGreaterThan
                    (student |> Functional.FSharp.Model.evaluate data).["accuracy"]
                    0.5
                    "and from the labels"
        ]
