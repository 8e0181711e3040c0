/// Optimizers follow the published update rules exactly (first steps computed by hand), and
/// schedules and clipping do what they say.
module Functional.PropertyTests.OptimizerTests

open System
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Optimizers
open Functional.FSharp
open Support

let private p0 () =
    TensorTree.Of(struct ("w", vector [ 1.0; -2.0 ]))

let private g0 () =
    TensorTree.Of(struct ("w", vector [ 0.5; 0.1 ]))

/// Runs `steps` updates with the same gradient; returns the parameters after each.
let private run (optimizer: GradientTransformation) (steps: int) =
    let mutable p = p0 ()
    let mutable state = optimizer.Init.Invoke p

    [
        for _ in 1..steps do
            let struct (updates, next) = optimizer.Update(g0 (), state, p)
            p <- Optimizer.ApplyUpdates(p, updates)
            state <- next
            yield p.["w"]
    ]

let private expectSteps name (expected: float list list) (actual: torch.Tensor list) =
    List.iteri2 (fun i e a -> expectClose $"{name} step {i + 1}" 1e-12 a (vector e)) expected actual

/// Parameters of a line, as an F# record.
type Affine = { W: torch.Tensor; B: torch.Tensor }

let tests =
    testList
        "optimizers"
        [
            testCase
                "the state layout is typed: Adam's state reads as an AdamState and a LearningRateState, and the fused step moves them"
            <| fun () ->
                scoped (fun () ->
                    let parameters =
                        TensorTree.Of(struct ("w", torch.ones (3L)), struct ("b", torch.zeros (2L)))

                    let adam = Optimizer.Adam 0.1
                    let state = adam.Init.Invoke parameters
                    let moments = AdamState.Of(OptimizerState.ChainLink(state, 0))
                    let rate = LearningRateState.Of(OptimizerState.ChainLink(state, 1))
                    Expect.equal (List.ofSeq moments.Mu.Paths) [ "w"; "b" ] "one moment per parameter"
                    Expect.equal (moments.Count.item<int64>()) 0L "step 0"
                    Expect.equal (rate.Multiplier.item<float>()) 1.0 "multiplier 1"
                    Expect.equal (LearningRateState.Multipliers state).Count 1 "found by name"

                    adam.StepInPlace(
                        TensorTree.Of(struct ("w", torch.ones (3L)), struct ("b", torch.ones (2L))),
                        state,
                        parameters
                    )

                    Expect.equal (moments.Count.item<int64>()) 1L "the fused step counts in the typed state"
                    Expect.isGreaterThan (moments.Mu.["w"].sum().item<float32>()) 0.0f "and moves the first moment")

            testCase "SGD: p - lr g"
            <| fun () ->
                scoped (fun () -> expectSteps "sgd" [ [ 0.95; -2.01 ]; [ 0.9; -2.02 ] ] (run (Optimizer.Sgd 0.1) 2))

            testCase "SGD with momentum 0.9: v = 0.9 v + g; p - lr v"
            <| fun () ->
                scoped (fun () ->
                    // v1 = g, v2 = 1.9 g
                    expectSteps
                        "momentum"
                        [ [ 1.0 - 0.05; -2.0 - 0.01 ]; [ 0.95 - 0.095; -2.01 - 0.019 ] ]
                        (run (Optimizer.Sgd(0.1, momentum = 0.9)) 2))

            testCase "SGD with Nesterov momentum: p - lr (g + 0.9 v)"
            <| fun () ->
                scoped (fun () ->
                    // step 1: v = g, update g + 0.9 g = 1.9 g; step 2: v = 1.9 g, update g + 1.71 g = 2.71 g
                    expectSteps
                        "nesterov"
                        [ [ 1.0 - 0.095; -2.0 - 0.019 ]; [ 0.905 - 0.1355; -2.019 - 0.0271 ] ]
                        (run (Optimizer.Sgd(0.1, momentum = 0.9, nesterov = true)) 2))

            testCase "Adam: bias-corrected moments; the first step is lr * sign(g)"
            <| fun () ->
                scoped (fun () ->
                    let lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8

                    let adamStep (g: float) t (m: float) (v: float) =
                        let m, v = b1 * m + (1.0 - b1) * g, b2 * v + (1.0 - b2) * g * g
                        let mHat, vHat = m / (1.0 - b1 ** float t), v / (1.0 - b2 ** float t)
                        lr * mHat / (sqrt vHat + eps), m, v

                    let expected =
                        [ 0.5; 0.1 ]
                        |> List.map (fun g ->
                            let u1, m1, v1 = adamStep g 1 0.0 0.0
                            let u2, _, _ = adamStep g 2 m1 v1
                            u1, u1 + u2)

                    let after1 = [ 1.0 - fst expected.[0]; -2.0 - fst expected.[1] ]
                    let after2 = [ 1.0 - snd expected.[0]; -2.0 - snd expected.[1] ]
                    expectSteps "adam" [ after1; after2 ] (run (Optimizer.Adam 0.01) 2)
                    expectClose "first step is lr * sign(g)" 1e-8 (vector after1) (vector [ 0.99; -2.01 ]))

            testPropertyWithConfig config "Adam's fused in-place step equals its chain of transformations"
            <| fun (seed: int) (lrMultiplier: bool) ->
                scoped (fun () ->
                    use g = new torch.Generator(uint64 (abs seed))
                    let schedule = Schedules.Exponential(1e-2, 3L, 0.5)
                    let optimizer = Optimizer.Adam(schedule, 0.8, 0.99, 1e-6)

                    for dtype in [ torch.float32; torch.float64 ] do
                        let parameters () =
                            TensorTree.Of(
                                struct ("dense/kernel", torch.randn ([| 7L; 5L |], dtype = dtype, generator = g)),
                                struct ("dense/bias", torch.randn ([| 5L |], dtype = dtype, generator = g))
                            )

                        let fused, chained = parameters (), parameters ()
                        chained.Leaves |> Seq.iteri (fun i t -> t.copy_ (fused.Leaves.[i]) |> ignore)

                        let fusedState, chainedState =
                            optimizer.Init.Invoke fused, optimizer.Init.Invoke chained

                        if lrMultiplier then
                            for state in [ fusedState; chainedState ] do
                                for m in LearningRateState.Multipliers state do
                                    m.fill_ (0.5.ToScalar()) |> ignore

                        for _ in 1..6 do
                            let gradient =
                                fused.Map(fun t -> torch.randn (t.shape, dtype = dtype, generator = g))

                            optimizer.StepInPlace(gradient.Clone(), fusedState, fused)
                            let plain = GradientTransformation(optimizer.Init, optimizer.UpdateInPlace)
                            plain.StepInPlace(gradient, chainedState, chained)

                        let tolerance = if dtype = torch.float32 then 1e-6 else 1e-12
                        expectTreesClose $"parameters ({dtype})" tolerance fused chained
                        expectTreesClose $"state ({dtype})" tolerance fusedState chainedState)

            testCase "AdamW: Adam's step plus lr * weight decay * p, decoupled"
            <| fun () ->
                scoped (fun () ->
                    let adam = run (Optimizer.Adam 0.01) 1 |> List.head
                    let adamw = run (Optimizer.AdamW(0.01, weightDecay = 0.1)) 1 |> List.head
                    expectClose "decay" 1e-12 (adam - adamw) (vector [ 0.01 * 0.1 * 1.0; 0.01 * 0.1 * -2.0 ]))

            testCase "RMSProp and Adagrad first steps"
            <| fun () ->
                scoped (fun () ->
                    // RMSProp: nu = 0.1 g^2; p - lr g / (sqrt nu + eps)
                    let rms g = 0.01 * g / (sqrt (0.1 * g * g) + 1e-7)
                    expectSteps "rmsprop" [ [ 1.0 - rms 0.5; -2.0 - rms 0.1 ] ] (run (Optimizer.RmsProp 0.01) 1)
                    // Adagrad: sum = 0.1 + g^2; p - lr g / (sqrt sum + eps)
                    let ada g = 0.1 * g / (sqrt (0.1 + g * g) + 1e-7)
                    expectSteps "adagrad" [ [ 1.0 - ada 0.5; -2.0 - ada 0.1 ] ] (run (Optimizer.Adagrad 0.1) 1))

            testCase "clipping by global norm and by value"
            <| fun () ->
                scoped (fun () ->
                    let g = TensorTree.Of(struct ("a", vector [ 3.0 ]), struct ("b", vector [ 4.0 ]))
                    let clip = Transform.ClipByGlobalNorm 1.0
                    let struct (clipped, _) = clip.Update(g, clip.Init.Invoke g, g)
                    Expect.floatClose Accuracy.high (Transform.GlobalNorm clipped) 1.0 "norm 5 -> 1"
                    expectClose "direction kept" 1e-12 clipped.["a"] (vector [ 0.6 ])

                    let struct (unchanged, _) =
                        (Transform.ClipByGlobalNorm 10.0).Update(g, TensorTree.Empty, g)

                    expectClose "under the limit" 0.0 unchanged.["b"] (vector [ 4.0 ])
                    let struct (byValue, _) = (Transform.ClipByValue 3.5).Update(g, TensorTree.Empty, g)
                    expectClose "by value" 0.0 byValue.["b"] (vector [ 3.5 ]))

            testCase "schedules: step, exponential, cosine, warm-up then cosine"
            <| fun () ->
                let close name (expected: float) (actual: float) =
                    Expect.floatClose Accuracy.high actual expected name

                let step = Schedules.Step(1.0, 10L, 0.5)
                close "step 9" 1.0 (step.Invoke 9L)
                close "step 10" 0.5 (step.Invoke 10L)
                close "exponential" 0.5 ((Schedules.Exponential(1.0, 10L, 0.25)).Invoke 5L)
                let cosine = Schedules.Cosine(1.0, 100L)
                close "cosine start" 1.0 (cosine.Invoke 0L)
                close "cosine middle" 0.5 (cosine.Invoke 50L)
                close "cosine end" 0.0 (cosine.Invoke 100L)
                let warm = Schedules.WarmupCosine(2.0, 10L, 110L)
                close "warm-up first" 0.2 (warm.Invoke 0L)
                close "warm-up peak" 2.0 (warm.Invoke 10L)
                close "after decay" 0.0 (warm.Invoke 110L)

            testCase "a learning-rate schedule drives SGD step by step"
            <| fun () ->
                scoped (fun () ->
                    let schedule = Schedule(fun step -> if step = 0L then 0.1 else 0.2)
                    expectSteps "scheduled" [ [ 0.95; -2.01 ]; [ 0.85; -2.03 ] ] (run (Optimizer.Sgd schedule) 2))

            testCase "masked: weight decay on kernels only; the other leaves' gradients pass through"
            <| fun () ->
                scoped (fun () ->
                    let parameters =
                        TensorTree.Of(
                            struct ("dense/kernel", vector [ 1.0; 2.0 ]),
                            struct ("dense/bias", vector [ 3.0 ])
                        )

                    let gradients =
                        TensorTree.Of(
                            struct ("dense/kernel", vector [ 0.5; 0.5 ]),
                            struct ("dense/bias", vector [ 0.5 ])
                        )

                    let decay =
                        Transform.Masked(Transform.AddDecayedWeights 0.1, fun path -> path.EndsWith "kernel")

                    let struct (updates, _) =
                        decay.Update(gradients, decay.Init.Invoke parameters, parameters)

                    expectClose "kernel decays" 1e-12 updates.["dense/kernel"] (vector [ 0.6; 0.7 ])
                    expectClose "bias passes through" 0.0 updates.["dense/bias"] (vector [ 0.5 ])
                    // Masked Adam keeps state for the masked leaves only.
                    let adam =
                        Transform.Masked(Transform.ScaleByAdam(), fun path -> path.EndsWith "kernel")

                    Expect.sequenceEqual
                        (Seq.sort (adam.Init.Invoke parameters).Paths)
                        [ "count"; "mu/dense/kernel"; "nu/dense/kernel" ]
                        "state of the masked leaves")

            testCase "multi-transform: one optimizer per group; a label without one is named"
            <| fun () ->
                scoped (fun () ->
                    let parameters =
                        TensorTree.Of(struct ("encoder/w", vector [ 1.0 ]), struct ("head/w", vector [ 1.0 ]))

                    let gradients =
                        TensorTree.Of(struct ("encoder/w", vector [ 1.0 ]), struct ("head/w", vector [ 1.0 ]))

                    let label (path: string) =
                        if path.StartsWith "encoder" then "slow" else "fast"

                    let both =
                        Transform.MultiTransform(
                            readOnlyDict [ "slow", Optimizer.Sgd 0.01; "fast", Optimizer.Sgd 0.5 ],
                            label
                        )

                    let struct (updates, _) =
                        both.Update(gradients, both.Init.Invoke parameters, parameters)

                    expectClose "slow group" 1e-12 updates.["encoder/w"] (vector [ -0.01 ])
                    expectClose "fast group" 1e-12 updates.["head/w"] (vector [ -0.5 ])

                    let partial =
                        Transform.MultiTransform(readOnlyDict [ "slow", Optimizer.Sgd 0.01 ], label)

                    expectThrowsWith<ArgumentException> [ "'head/w'"; "'fast'" ] (fun () ->
                        partial.Init.Invoke parameters |> ignore))

            testPropertyWithConfig
                config
                "clipping + Adam, and Adam beside a frozen group, keep the fused step and equal the chain"
            <| fun (seed: int) ->
                scoped (fun () ->
                    use g = new torch.Generator(uint64 (abs seed))

                    for optimizer, freezes in
                        [
                            Transform.Chain(Transform.ClipByGlobalNorm 0.5, Optimizer.Adam 1e-2), false
                            Transform.Freeze(Optimizer.Adam 1e-2, fun path -> path.StartsWith "frozen"), true
                        ] do
                        Expect.isNotNull (box optimizer.FusedStep) "a fused step"

                        let parameters () =
                            TensorTree.Of(
                                struct ("dense/kernel",
                                        torch.randn ([| 4L; 3L |], dtype = torch.float64, generator = g)),
                                struct ("frozen/kernel", torch.randn ([| 3L |], dtype = torch.float64, generator = g))
                            )

                        let fused, chained = parameters (), parameters ()
                        chained.Leaves |> Seq.iteri (fun i t -> t.copy_ (fused.Leaves.[i]) |> ignore)
                        let start = fused.Clone()

                        let fusedState, chainedState =
                            optimizer.Init.Invoke fused, optimizer.Init.Invoke chained

                        for _ in 1..5 do
                            let gradient =
                                fused.Map(fun t -> torch.randn (t.shape, dtype = torch.float64, generator = g))

                            optimizer.StepInPlace(gradient.Clone(), fusedState, fused)

                            GradientTransformation(optimizer.Init, optimizer.UpdateInPlace)
                                .StepInPlace(gradient, chainedState, chained)

                        expectTreesClose "parameters" 1e-12 fused chained
                        expectTreesClose "state" 1e-12 fusedState chainedState

                        if freezes then
                            expectClose
                                "the frozen group did not move"
                                0.0
                                fused.["frozen/kernel"]
                                start.["frozen/kernel"])

            testCase "a frozen layer does not move under any optimizer; unfrozen, it trains again"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.randn (32L, 3L)
                    let y = x.sum ([| 1L |], true)

                    for optimizer in
                        [
                            Optimizer.Adam 1e-2
                            Optimizer.Sgd(0.05, momentum = 0.9)
                            Optimizer.RmsProp 1e-2
                            Optimizer.AdamW 1e-2
                            Optimizer.Adagrad 0.1
                        ] do
                        use model =
                            new Functional.Training.Model(
                                Functional.Layers.Sequential(Functional.Layers.Dense(4L), Functional.Layers.Dense(1L)),
                                [| 3L |],
                                Functional.Losses.Loss.MeanSquaredError,
                                optimizer
                            )

                        model.Freeze "dense"
                        Expect.isTrue (model.IsFrozen "dense/kernel") "dense/kernel is frozen"

                        Expect.stringContains
                            (model.Summary())
                            "Trainable params: 5"
                            "the summary counts frozen parameters as non-trainable"

                        let before = model.State.Params.Clone()

                        model.Fit(
                            x,
                            y,
                            Functional.Training.FitOptions(
                                Epochs = 2,
                                BatchSize = 8,
                                Verbosity = Functional.Training.Verbosity.Silent
                            )
                        )
                        |> ignore

                        expectTreesClose
                            "the frozen layer"
                            0.0
                            (model.State.Params.Select "dense")
                            (before.Select "dense")

                        Expect.isGreaterThan
                            ((model.State.Params.["dense_1/kernel"] - before.["dense_1/kernel"])
                                .abs()
                                .max()
                                .item<float32>())
                            0.0f
                            "the other layer trains"

                        let struct (next, _, _) = model.TrainStep(model.State, x, y)

                        expectTreesClose
                            "the pure step holds it too"
                            0.0
                            (next.Params.Select "dense")
                            (before.Select "dense")

                        model.Unfreeze "dense"

                        model.Fit(
                            x,
                            y,
                            Functional.Training.FitOptions(
                                Epochs = 1,
                                BatchSize = 8,
                                Verbosity = Functional.Training.Verbosity.Silent
                            )
                        )
                        |> ignore

                        Expect.isGreaterThan
                            ((model.State.Params.["dense/kernel"] - before.["dense/kernel"])
                                .abs()
                                .max()
                                .item<float32>())
                            0.0f
                            "unfrozen, it trains"

                        expectThrowsWith<ArgumentException> [ "'decoder'"; "dense, dense_1" ] (fun () ->
                            model.Freeze("dense_1", "decoder"))

                        Expect.isEmpty model.FrozenPaths "a bad path changes nothing"
                        let stale = model.State.Copy()
                        model.Freeze "dense"

                        expectThrowsWith<ArgumentException> [ "optimizer state"; "Init" ] (fun () ->
                            model.TrainStep(stale, x, y) |> ignore))

            testCase
                "F#: Optim composes with |>, init/update are F# tuples shaped like the parameters; Train.run owns memory"
            <| fun () ->
                scoped (fun () ->
                    use g = new torch.Generator(3UL)
                    let x = torch.randn ([| 64L; 2L |], generator = g)
                    let y = x.matmul (torch.tensor([| 2.0f; -1.0f |]).view(2L, 1L)) + 0.5f

                    let loss (p: Affine) =
                        (x.matmul (p.W) + p.B - y).square().mean()

                    let optimizer = Optim.adam 0.05 |> Optim.chain [ Optim.clipByGlobalNorm 10.0 ]
                    Expect.isNotNull (box optimizer.FusedStep) "clip + Adam keeps the fused step"

                    let start () =
                        {
                            W = torch.zeros (2L, 1L)
                            B = torch.zeros (1L)
                        }
                    // update is the C# pure update, shaped like the record.
                    let p0 = start ()
                    let state = Optim.init optimizer p0
                    let gradients = Diff.grad loss p0
                    let updates, _ = Optim.update optimizer gradients state p0

                    let struct (expected, _) =
                        optimizer.Update(Tree.toTree gradients, state.Tree, Tree.toTree p0)

                    expectTreesClose "updates" 0.0 (Tree.toTree updates) expected
                    let first = start ()
                    let final, _, losses = Train.run optimizer loss 300 first
                    Expect.isLessThan (List.last losses) (List.head losses / 100.0) "the loss falls"
                    expectClose "the slope" 0.05 final.W (torch.tensor([| 2.0f; -1.0f |]).view(2L, 1L))
                    Expect.isTrue first.W.IsInvalid "the starting parameters were given away (freed)")
        ]
