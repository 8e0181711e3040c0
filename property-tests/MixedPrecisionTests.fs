/// Precision policies (float32, mixed bfloat16, mixed float16) and dynamic loss scaling: where
/// layers compute, which dtypes variables and gradients keep, what is saved, and that training
/// under each policy learns.
module Functional.PropertyTests.MixedPrecisionTests

open System
open System.IO
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Persistence
open Functional.Training
open Functional.Autodiff
open Support

let private context policy =
    ApplyContext.Train(1UL) |> fun c -> c.WithPrecision(policy)

let private mlp () =
    Sequential(Dense(16L, ActivationFunction.Relu), Dense(2L)) :> ILayer

let private classifier policy (seed: uint64) =
    new Model(
        mlp (),
        [| 2L |],
        Loss.SparseCategoricalCrossEntropy(true),
        Optimizer.Adam 1e-2,
        [ SparseCategoricalAccuracy() :> Metric ],
        seed,
        policy
    )

/// The float32 gradient of a Dense layer's loss, and the same under `policy`.
let private denseGradients (policy: PrecisionPolicy) =
    let layer = Dense(8L, ActivationFunction.Tanh)
    use rng = (new torch.Generator(3UL))
    let variables = layer.Init(rng, [| 4L |])
    let x = torch.randn (32L, 4L, generator = rng)

    let lossUnder (p: PrecisionPolicy) (parameters: TensorTree) =
        let struct (y, _) =
            layer.Apply(Variables(parameters, variables.State), x, ApplyContext(true).WithPrecision(p))

        (PrecisionPolicy.InFloat32 y).square().mean()

    let grad p =
        Transforms.Grad(Func<TensorTree, torch.Tensor>(lossUnder p)).Invoke variables.Params

    grad PrecisionPolicy.Float32, grad policy

let tests =
    testList
        "mixed precision"
        [
            testCase "under mixed_bfloat16 Dense computes in bfloat16; its variables and their gradients stay float32"
            <| fun () ->
                scoped (fun () ->
                    let layer = Dense(3L)
                    use rng = (new torch.Generator(0UL))
                    let variables = layer.Init(rng, [| 4L |])

                    let struct (y, _) =
                        layer.Apply(variables, torch.randn (2L, 4L), context PrecisionPolicy.MixedBFloat16)

                    Expect.equal y.dtype torch.bfloat16 "output in the compute dtype"
                    Expect.equal variables.Params.["kernel"].dtype torch.float32 "the kernel itself is untouched"
                    let reference, mixed = denseGradients PrecisionPolicy.MixedBFloat16

                    for p in reference.Paths do
                        Expect.equal mixed.[p].dtype torch.float32 $"gradient of {p} is float32"
                        // bfloat16 keeps 8 bits of mantissa: within a few percent of float32.
                        let scale = reference.[p].abs().max().item<float32>() |> float
                        expectClose $"gradient of {p}" (0.03 * scale) mixed.[p] reference.[p])

            testCase "normalisation computes its statistics in float32 and answers in the input's dtype"
            <| fun () ->
                scoped (fun () ->
                    for layer in [ BatchNorm() :> Layer; LayerNorm() ] do
                        use rng = (new torch.Generator(0UL))
                        let variables = layer.Init(rng, [| 6L |])
                        let x = torch.randn (8L, 6L)

                        let struct (y, state) =
                            layer.Apply(variables, x.to_type torch.bfloat16, context PrecisionPolicy.MixedBFloat16)

                        Expect.equal y.dtype torch.bfloat16 $"{layer.Kind}: output in the input's dtype"

                        for t in state.Leaves do
                            Expect.equal t.dtype torch.float32 $"{layer.Kind}: running statistics stay float32"

                        let struct (expected, _) =
                            layer.Apply(
                                variables,
                                x.to_type(torch.bfloat16).to_type torch.float32,
                                ApplyContext.Train(1UL)
                            )

                        expectClose $"{layer.Kind}: the float32 result, rounded once" 0.05 y expected)

            testCase "softmax and losses work in float32 on 16-bit inputs"
            <| fun () ->
                scoped (fun () ->
                    let logits = torch.randn (4L, 5L)
                    let half = logits.to_type torch.bfloat16
                    let p = ActivationFunction.Softmax.Invoke half
                    Expect.equal p.dtype torch.float32 "softmax of bfloat16 is float32"

                    let loss =
                        Loss.SparseCategoricalCrossEntropy(true).Invoke(half, torch.tensor [| 0L; 1L; 2L; 3L |])

                    Expect.equal loss.dtype torch.float32 "the loss is float32")

            testCase "float64 variables are computed in as they are, whatever the policy (gradient checks)"
            <| fun () ->
                scoped (fun () ->
                    let layer = Dense(3L)
                    use rng = (new torch.Generator(0UL))
                    let variables = layer.Init(rng, [| 4L |])
                    let wide = Variables(variables.Params.To torch.float64, variables.State)

                    let struct (y, _) =
                        layer.Apply(
                            wide,
                            torch.randn (2L, 4L, dtype = torch.float64),
                            context PrecisionPolicy.MixedBFloat16
                        )

                    Expect.equal y.dtype torch.float64 "float64 in, float64 out"

                    let report =
                        Functional.Verification.GradCheck.Check(
                            Func<TensorTree, torch.Tensor>(fun p ->
                                let struct (out, _) =
                                    layer.Apply(
                                        Variables(p, TensorTree.Empty),
                                        torch.ones (2L, 4L, dtype = torch.float64),
                                        context PrecisionPolicy.MixedBFloat16
                                    )

                                out.square().sum()),
                            wide.Params
                        )

                    Expect.isTrue report.Passed (string report))

            testCase "a layer's own policy overrides the model's, and both are saved with the model"
            <| fun () ->
                scoped (fun () ->
                    let head = Dense(2L).WithPrecision(PrecisionPolicy.Float32)
                    let body = Dense(8L, ActivationFunction.Relu)
                    use rng = (new torch.Generator(0UL))
                    let v = head.Init(rng, [| 8L |])

                    let struct (y, _) =
                        head.Apply(
                            v,
                            torch.randn(3L, 8L).to_type torch.bfloat16,
                            context PrecisionPolicy.MixedBFloat16
                        )

                    Expect.equal y.dtype torch.float32 "the float32 head computes in float32"

                    use model =
                        new Model(
                            Sequential(body, head),
                            [| 4L |],
                            Loss.SparseCategoricalCrossEntropy(true),
                            Optimizer.Adam 1e-3,
                            precision = PrecisionPolicy.MixedBFloat16
                        )

                    let folder = Path.Combine(Path.GetTempPath(), $"mixed-save-{Guid.NewGuid():N}")

                    try
                        ModelFile.Save(folder, model)
                        use loaded = ModelFile.LoadModel folder
                        Expect.equal loaded.Precision PrecisionPolicy.MixedBFloat16 "the model's policy is saved"
                        let layers = (loaded.Network :?> Sequential).Layers

                        Expect.equal
                            (snd (layers.[1].ToTuple()) :?> Layer).Precision
                            PrecisionPolicy.Float32
                            "the head's own policy is saved"

                        Expect.isNull (snd (layers.[0].ToTuple()) :?> Layer).Precision "the body follows the model"
                        let x = torch.randn (5L, 4L)

                        expectClose
                            "the loaded model predicts as the saved one"
                            0.0
                            (loaded.Predict x)
                            (model.Predict x)
                    finally
                        if Directory.Exists folder then
                            Directory.Delete(folder, true))

            testCase "a mixed_bfloat16 model learns; its parameters stay float32 and it predicts in float32"
            <| fun () ->
                scoped (fun () ->
                    let x, y = TrainingTests.blobs 512L 11UL
                    use model = classifier PrecisionPolicy.MixedBFloat16 0UL

                    let history =
                        model.Fit(x, y, FitOptions(Epochs = 5, BatchSize = 32, Verbosity = Verbosity.Silent))

                    Expect.isGreaterThan history.["accuracy"].[4] 0.95 "separable blobs are learned in bfloat16"

                    for t in model.State.Params.Leaves do
                        Expect.equal t.dtype torch.float32 "master weights are float32"

                    Expect.equal (model.Predict(x.narrow (0L, 0L, 4L))).dtype torch.float32 "predictions are float32")

            testCase "MNIST digits are learned under mixed_bfloat16 (convolutions, pooling, BatchNorm)"
            <| fun () ->
                scoped (fun () ->
                    let struct (images, labels) = Functional.Datasets.Mnist.Load()

                    use model =
                        new Model(
                            Sequential(
                                Conv2D(8L, 3L, activation = ActivationFunction.Relu),
                                BatchNorm(),
                                MaxPool2D(),
                                Flatten(),
                                Dense(10L)
                            ),
                            [| 1L; 28L; 28L |],
                            Loss.SparseCategoricalCrossEntropy(true),
                            Optimizer.Adam 3e-3,
                            [ SparseCategoricalAccuracy() :> Metric ],
                            precision = PrecisionPolicy.MixedBFloat16
                        )

                    model.Fit(
                        images.narrow (0L, 0L, 2000L),
                        labels.narrow (0L, 0L, 2000L),
                        FitOptions(Epochs = 2, BatchSize = 64, Verbosity = Verbosity.Silent)
                    )
                    |> ignore

                    expectLearnsDigits model images labels "a bfloat16 CNN learns digits")

            testCase "a mixed_float16 model scales its loss dynamically, learns, and resumes its scale exactly"
            <| fun () ->
                scoped (fun () ->
                    let x, y = TrainingTests.blobs 256L 12UL
                    use model = classifier PrecisionPolicy.MixedFloat16 0UL
                    let scale () = LossScale.Current model.State.OptState
                    Expect.equal (scale ()) 32768.0 "the scale starts at 2^15, as Keras's"

                    let history =
                        model.Fit(x, y, FitOptions(Epochs = 6, BatchSize = 32, Verbosity = Verbosity.Silent))

                    Expect.isGreaterThan history.["accuracy"].[5] 0.95 "separable blobs are learned in float16"
                    let folder = Path.Combine(Path.GetTempPath(), $"fp16-save-{Guid.NewGuid():N}")

                    try
                        ModelFile.Save(folder, model)
                        use loaded = ModelFile.LoadModel folder

                        Expect.equal
                            (LossScale.Current loaded.State.OptState)
                            (scale ())
                            "the scale is saved with the optimizer state"

                        let options =
                            FitOptions(Epochs = 1, BatchSize = 32, Shuffle = false, Verbosity = Verbosity.Silent)

                        model.Fit(x, y, options) |> ignore
                        loaded.Fit(x, y, options) |> ignore

                        expectTreesClose
                            "training on from the saved state matches training on"
                            0.0
                            loaded.State.Params
                            model.State.Params

                        expectTreesClose
                            "and so does the optimizer state"
                            0.0
                            loaded.State.OptState
                            model.State.OptState
                    finally
                        if Directory.Exists folder then
                            Directory.Delete(folder, true))

            testCase "dynamic loss scaling skips non-finite steps, halves, and doubles after a run of finite ones"
            <| fun () ->
                scoped (fun () ->
                    let optimizer =
                        LossScale.Dynamic(Optimizer.Adam 0.1, initialScale = 8.0, growthInterval = 3L)

                    let parameters = TensorTree.Of(struct ("w", torch.tensor [| 1.0f; 2.0f |]))
                    let state = optimizer.Init.Invoke parameters
                    let finite = TensorTree.Of(struct ("w", torch.tensor [| 0.5f; -0.5f |]))

                    let broken =
                        TensorTree.Of(struct ("w", torch.tensor [| 0.5f; Single.PositiveInfinity |]))

                    let step (gradients: TensorTree) (state: TensorTree) (parameters: TensorTree) =
                        let struct (updates, next) = optimizer.Update(gradients, state, parameters)
                        Optimizer.ApplyUpdates(parameters, updates), next

                    let p1, s1 = step broken state parameters
                    expectTreesClose "a non-finite step moves nothing" 0.0 p1 parameters
                    expectTreesClose "nor the inner state" 0.0 (s1.Select "inner") (state.Select "inner")
                    Expect.equal (LossScale.Current s1) 4.0 "the scale is halved"
                    let p2, s2 = step finite s1 p1
                    let p3, s3 = step finite s2 p2

                    Expect.isGreaterThan
                        ((p3.["w"] - parameters.["w"]).abs().sum().item<float32>())
                        0.0f
                        "finite steps move"

                    Expect.equal (LossScale.Current s3) 4.0 "not doubled after 2 finite steps"
                    let _, s4 = step finite s3 p3
                    Expect.equal (LossScale.Current s4) 8.0 "doubled after 3"
                    let mutable s = s4

                    for _ in 1..10 do
                        s <- snd (step broken s p3)

                    Expect.equal (LossScale.Current s) 1.0 "never below 1")

            testCase "a hand-written loop scales with ScaleLoss and UnscaleGradients as TensorFlow's"
            <| fun () ->
                scoped (fun () ->
                    let optimizer = LossScale.Dynamic(Optimizer.Sgd 0.1)
                    let parameters = TensorTree.Of(struct ("w", torch.tensor [| 1.0f; -2.0f |]))
                    let optState = optimizer.Init.Invoke parameters
                    use tape = new GradientTape()
                    tape.Watch parameters |> ignore
                    let loss = parameters.["w"].square().sum()
                    let scaled = LossScale.ScaleLoss(loss, optState)
                    expectClose "the scaled loss" 0.0 scaled (loss * 32768.0)

                    let gradients =
                        LossScale.UnscaleGradients(tape.Gradient(scaled, parameters), optState)

                    expectClose
                        "unscaled gradients are the loss's"
                        1e-6
                        gradients.["w"]
                        (torch.tensor [| 2.0f; -4.0f |]))

            testCase "the two-tape GAN step runs under mixed_bfloat16 with float32 gradients"
            <| fun () ->
                scoped (fun () ->
                    let generator = Sequential(Dense(8L, ActivationFunction.Relu), Dense(2L)) :> ILayer

                    let discriminator =
                        Sequential(Dense(8L, ActivationFunction.Relu), Dense(1L)) :> ILayer

                    use rng = (new torch.Generator(5UL))
                    let g = generator.Init(rng, [| 3L |])
                    let d = discriminator.Init(rng, [| 2L |])
                    let z = torch.randn (16L, 3L, generator = rng)
                    let real = torch.randn (16L, 2L, generator = rng)

                    let gradients (policy: PrecisionPolicy) =
                        let ctx = ApplyContext.Train(2UL).WithPrecision(policy)
                        use genTape = new GradientTape()
                        use discTape = new GradientTape()
                        genTape.Watch g.Params |> ignore
                        discTape.Watch d.Params |> ignore
                        let struct (fake, _) = generator.Apply(g, z, ctx)

                        let score (x: torch.Tensor) =
                            let struct (s, _) = discriminator.Apply(d, x, ctx)
                            PrecisionPolicy.InFloat32(s).sigmoid()

                        let dFake, dReal = score fake, score real
                        let genLoss = -(dFake.log().mean())
                        let discLoss = -(dReal.log().mean()) - ((1.0 - dFake).log().mean())
                        genTape.Gradient(genLoss, g.Params), discTape.Gradient(discLoss, d.Params)

                    let genRef, discRef = gradients PrecisionPolicy.Float32
                    let genMixed, discMixed = gradients PrecisionPolicy.MixedBFloat16

                    for reference, mixed in [ genRef, genMixed; discRef, discMixed ] do
                        for p in reference.Paths do
                            Expect.equal mixed.[p].dtype torch.float32 $"{p}: a float32 gradient"
                            let scale = reference.[p].abs().max().item<float32>() |> float
                            expectClose $"{p}: close to float32's" (0.05 * scale + 1e-4) mixed.[p] reference.[p])

            testCase "unknown policy names are refused with the known ones"
            <| fun () ->
                expectThrowsWith<ArgumentException> [ "mixed_bf16"; "mixed_bfloat16" ] (fun () ->
                    PrecisionPolicy.Parse "mixed_bf16" |> ignore)
        ]
