/// Every registered layer kind, through the registry: its description round-trips, its
/// gradients match finite differences, ONNX Runtime computes what it computes. A kind added to
/// the library without an entry here fails the first test. Then the new layers' own laws.
module Functional.PropertyTests.LayerCatalogTests

open System
open System.IO
open Expecto
open TorchSharp
open Functional.Trees
open Functional.Layers
open Functional.Export
open Functional.Persistence
open Functional.Verification
open Support

do Lambda.Register("square", (fun x -> x * x), toOnnx = (fun graph x -> graph.Node("Mul", "square", [ x; x ])))

do
    Lambda.Register(
        "halve_last",
        (fun x -> x.narrow (-1L, 0L, x.shape.[x.shape.Length - 1] / 2L)),
        outputShape = (fun shape -> Array.append shape.[.. shape.Length - 2] [| shape.[shape.Length - 1] / 2L |])
    )

/// A layer: how to make it, a per-example input shape, whether its inputs are ids, whether it
/// exports to ONNX, whether its state may be perturbed (not int8 weights) and its gradients are
/// the true derivatives (not quantization's straight-through estimator).
type Entry =
    {
        Make: unit -> ILayer
        Shape: int64[]
        Ids: bool
        Onnx: bool
        PerturbState: bool
        Differentiable: bool
    }

let private entry make shape =
    {
        Make = make
        Shape = shape
        Ids = false
        Onnx = true
        PerturbState = true
        Differentiable = true
    }

let private nestedFunctional () =
    let input = Graph.Input([| 6L |], "features")
    let hidden = Dense(4L, ActivationFunction.Tanh, name = "hidden").Call(input)
    FunctionalModel([ input ], [ Graph.Concatenate(0, hidden, Dense(2L).Call(hidden)) ], "block") :> ILayer

let catalogue =
    [
        entry (fun () -> Dense(3L, ActivationFunction.Tanh) :> ILayer) [| 4L |]
        entry (fun () -> Conv1D(2L, 3L, padding = Padding.Same) :> ILayer) [| 2L; 6L |]
        entry (fun () -> Conv2D(2L, 3L, stride = 2L) :> ILayer) [| 1L; 7L; 7L |]
        entry
            (fun () ->
                Conv2DTranspose(2L, 3L, stride = 2L, padding = Padding.Same, activation = ActivationFunction.Tanh)
                :> ILayer)
            [| 2L; 3L; 3L |]
        entry (fun () -> Conv2DTranspose(1L, 2L, stride = 3L) :> ILayer) [| 2L; 3L; 2L |]
        entry (fun () -> MaxPool2D() :> ILayer) [| 1L; 4L; 4L |]
        entry (fun () -> AveragePool2D(3L, 1L, Padding.Same) :> ILayer) [| 1L; 4L; 4L |]
        entry (fun () -> MaxPool1D() :> ILayer) [| 2L; 6L |]
        entry (fun () -> AveragePool1D() :> ILayer) [| 2L; 6L |]
        entry (fun () -> GlobalPool(PoolKind.Max) :> ILayer) [| 2L; 3L; 3L |]
        entry (fun () -> UpSampling2D(3L) :> ILayer) [| 2L; 2L; 3L |]
        entry (fun () -> ZeroPadding2D(1L, 2L, 0L, 3L) :> ILayer) [| 1L; 2L; 3L |]
        entry (fun () -> Flatten() :> ILayer) [| 2L; 3L |]
        entry (fun () -> Reshape([| 3L; -1L |]) :> ILayer) [| 6L |]
        entry (fun () -> Dropout(0.5) :> ILayer) [| 4L |]
        entry (fun () -> Activation(ActivationFunction.Gelu) :> ILayer) [| 4L |]
        entry (fun () -> Rescaling(1.0 / 127.5, -1.0) :> ILayer) [| 2L; 3L |]
        entry (fun () -> RandomFlip() :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> RandomRotation(0.1) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> RandomZoom(0.2) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> RandomTranslation(0.1) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> RandomContrast(0.3) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> RandomBrightness(0.2) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> RandomCrop(3L, 4L) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> RandomCrop(8L, 9L) :> ILayer) [| 1L; 5L; 6L |]
        entry (fun () -> Resizing(3L, 8L) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> CenterCrop(3L, 4L) :> ILayer) [| 2L; 5L; 6L |]
        entry (fun () -> Normalization([| 1.0; -2.0; 0.5 |], [| 4.0; 0.25; 0.0 |]) :> ILayer) [| 2L; 3L |]
        entry (fun () -> Normalization(axis = 0, name = "by_rows") :> ILayer) [| 2L; 3L |]
        entry (fun () -> BatchNorm() :> ILayer) [| 3L; 2L |]
        entry (fun () -> LayerNorm() :> ILayer) [| 2L; 3L |]
        { entry (fun () -> Embedding(5L, 3L) :> ILayer) [| 4L |] with
            Ids = true
        }
        entry (fun () -> Lstm(3L, returnSequences = true) :> ILayer) [| 4L; 2L |]
        entry (fun () -> Gru(3L) :> ILayer) [| 4L; 2L |]
        entry (fun () -> SimpleRnn(3L, returnSequences = true) :> ILayer) [| 4L; 2L |]
        entry (fun () -> SimpleRnn(2L, activation = ActivationFunction.Relu) :> ILayer) [| 3L; 2L |]
        entry (fun () -> Bidirectional(Gru(2L, returnSequences = true), name = "bi_gru") :> ILayer) [| 4L; 3L |]
        entry (fun () -> Bidirectional(Lstm(2L), BidirectionalMerge.Average) :> ILayer) [| 4L; 3L |]
        entry (fun () -> TimeDistributed(Dense(2L, ActivationFunction.Sigmoid)) :> ILayer) [| 3L; 4L |]
        entry (fun () -> TimeDistributed(Conv1D(2L, 2L)) :> ILayer) [| 3L; 1L; 4L |]
        entry (fun () -> MultiHeadAttention(2L, 2L, causal = true) :> ILayer) [| 3L; 4L |]
        entry (fun () -> Lambda("square") :> ILayer) [| 3L |]
        { entry (fun () -> Lambda("halve_last") :> ILayer) [| 2L; 4L |] with
            Onnx = false
        }
        // A kind defined by F# functions (Layer.define) goes through the same registry.
        { entry
              (fun () ->
                  FSharpSurfaceTests.scaledDense
                      {
                          Units = 3L
                          Scale = 2.0
                          Dropout = 0.0
                      }
                      "scaled")
              [| 4L |] with
            Onnx = false
        }
        entry (fun () -> Residual(Sequential(Dense(3L, ActivationFunction.Relu), Dense(3L))) :> ILayer) [| 3L |]
        entry
            (fun () ->
                Sequential(Dense(6L), nestedFunctional (), Sequential([ Dense(2L) :> ILayer ], "head")) :> ILayer)
            [| 3L |]
        entry nestedFunctional [| 6L |]
        // int8 weights (the state holds them: not perturbed, not differentiated; ONNX Runtime's
        // default session rounds a weights-only product's input too: QuantizationTests compiles it) ...
        { entry
              (fun () ->
                  Functional.ModelOptimization.QuantizedLayer(
                      Dense(3L, ActivationFunction.Tanh),
                      Functional.ModelOptimization.ActivationQuantization.None
                  )
                  :> ILayer)
              [| 4L |] with
            PerturbState = false
            Differentiable = false
            Onnx = false
        }
        // ... and quantization-aware float weights (a straight-through gradient, not the derivative).
        { entry
              (fun () ->
                  Functional.ModelOptimization.QuantizedLayer(
                      Conv2D(2L, 3L),
                      storage = Functional.ModelOptimization.WeightStorage.Float
                  )
                  :> ILayer)
              [| 1L; 5L; 5L |] with
            Differentiable = false
        }
    ]

let private kindOf (layer: ILayer) =
    (LayerRegistry.ToJson layer).["type"].GetValue<string>()

let private describe (e: Entry) =
    let layer = e.Make()
    let shape = e.Shape |> Array.map string |> String.concat "x"
    $"{kindOf layer} '{layer.Name}' on {shape}"

let private inputFor (e: Entry) (batch: int64) (rng: torch.Generator) (dtype: torch.ScalarType) =
    let shape = Array.append [| batch |] e.Shape

    if e.Ids then
        torch.randint (0L, 5L, shape, generator = rng)
    else
        torch.randn (shape, generator = rng, dtype = dtype)

/// Variables with non-trivial state (running statistics), so inference paths are exercised.
let private variablesFor (layer: ILayer) (e: Entry) (rng: torch.Generator) =
    let v = layer.Init(rng, e.Shape)

    if e.PerturbState then
        Variables(v.Params, v.State.Map(fun t -> t + torch.rand (t.shape, generator = rng)))
    else
        v

let tests =
    testList
        "every layer kind, through the registry"
        [
            testCase "every registered kind has a catalogue entry"
            <| fun () ->
                let covered = catalogue |> List.map (fun e -> kindOf (e.Make())) |> Set.ofList

                let missing =
                    LayerRegistry.Kinds
                    |> Seq.filter (fun k -> k <> "doubler" && not (covered.Contains k))
                    |> List.ofSeq

                Expect.isEmpty missing "kinds without a catalogue entry"

            for e in catalogue do
                testCase $"{describe e}: the description rebuilds the same layer"
                <| fun () ->
                    scoped (fun () ->
                        let layer = e.Make()
                        let json = LayerRegistry.ToJson layer

                        let rebuilt =
                            LayerRegistry.FromJson(System.Text.Json.Nodes.JsonNode.Parse(json.ToJsonString()))

                        Expect.equal
                            ((LayerRegistry.ToJson rebuilt).ToJsonString())
                            (json.ToJsonString())
                            "the same description"

                        Expect.sequenceEqual
                            (rebuilt.OutputShape e.Shape)
                            (layer.OutputShape e.Shape)
                            "the same output shape"

                        use rng = new torch.Generator(2UL)
                        let v = variablesFor layer e rng
                        let x = inputFor e 3L rng torch.float32
                        let struct (expected, _) = layer.Apply(v, x, ApplyContext.Inference)
                        let struct (actual, _) = rebuilt.Apply(v, x, ApplyContext.Inference)

                        Expect.sequenceEqual
                            expected.shape
                            (Array.append [| 3L |] (layer.OutputShape e.Shape))
                            "the output has the declared shape"

                        expectClose "the same outputs" 0.0 actual expected)

                if not e.Ids && e.Differentiable then
                    testCase $"{describe e}: gradients match finite differences"
                    <| fun () ->
                        scoped (fun () ->
                            let layer = e.Make()
                            use rng = new torch.Generator(5UL)
                            let v = variablesFor layer e rng
                            let x = inputFor e 2L rng torch.float64
                            let state = v.State.To torch.float64

                            let f (t: TensorTree) =
                                let struct (y, _) =
                                    layer.Apply(Variables(t.Select "params", state), t.["x"], ApplyContext.Inference)

                                TensorTree.Leaf y

                            let tree =
                                TensorTree.Node(
                                    struct ("params", v.Params.To torch.float64),
                                    struct ("x", TensorTree.Leaf x)
                                )

                            let report = GradCheck.Check(Func<TensorTree, TensorTree>(f), tree)
                            Expect.isTrue report.Passed (string report))

                if e.Onnx && not e.Ids then
                    testCase $"{describe e}: ONNX Runtime agrees within 1e-5, at two batch sizes"
                    <| fun () ->
                        scoped (fun () ->
                            let layer = e.Make()
                            use rng = new torch.Generator(7UL)
                            let v = variablesFor layer e rng
                            let path = Path.Combine(Path.GetTempPath(), $"functional-{Guid.NewGuid():N}.onnx")

                            try
                                OnnxExport.Save(path, layer, e.Shape, v)

                                for batch in [ 1L; 3L ] do
                                    let x = inputFor e batch rng torch.float32
                                    let struct (expected, _) = layer.Apply(v, x, ApplyContext.Inference)
                                    expectClose $"batch {batch}" 1e-5 (OnnxTests.runOnnx path x) expected
                            finally
                                File.Delete path)
        ]

let private apply (layer: ILayer) (v: Variables) (x: torch.Tensor) =
    let struct (y, _) = layer.Apply(v, x, ApplyContext.Inference)
    y

let lawTests =
    testList
        "new layers' laws"
        [
            testCase
                "random image layers: the identity in inference; in training each image its own draws, the same for the same key"
            <| fun () ->
                scoped (fun () ->
                    torch.manual_seed 3L |> ignore
                    let x = torch.rand (4L, 3L, 8L, 8L)

                    let layers: ILayer list =
                        [
                            RandomFlip()
                            RandomRotation(0.2)
                            RandomZoom(0.3)
                            RandomTranslation(0.2)
                            RandomContrast(0.5)
                            RandomBrightness(0.3)
                        ]

                    for layer in layers do
                        let v = layer.Init(new torch.Generator(1UL), [| 3L; 8L; 8L |])

                        let run (context: ApplyContext) =
                            let struct (y, _) = layer.Apply(v, x, context) in y

                        let kind = kindOf layer
                        let same (p: torch.Tensor) (q: torch.Tensor) = p.eq(q).all().item<bool>()
                        Expect.isTrue (same (run ApplyContext.Inference) x) $"{kind}: inference is the identity"

                        let a, b, c =
                            run (ApplyContext.Train 5UL), run (ApplyContext.Train 5UL), run (ApplyContext.Train 6UL)

                        Expect.isTrue (same a b) $"{kind}: the same key, the same images"
                        Expect.isFalse (same a c) $"{kind}: another key draws again"

                        let perImage = torch.stack [| for i in 0L .. 3L -> a.[i].sub(x.[i]).abs().sum() |]

                        Expect.isGreaterThan (perImage.std().item<float32>()) 0.0f $"{kind}: each image its own draw"

                    let crop = RandomCrop(5L, 6L)
                    let v = crop.Init(new torch.Generator(1UL), [| 3L; 8L; 8L |])
                    let struct (trained, _) = crop.Apply(v, x, ApplyContext.Train 1UL)
                    let struct (inferred, _) = crop.Apply(v, x, ApplyContext.Inference)
                    Expect.sequenceEqual trained.shape [| 4L; 3L; 5L; 6L |] "a random window in training"

                    Expect.isTrue
                        (inferred.eq(x.narrow(2L, 1L, 5L).narrow(3L, 1L, 6L)).all().item<bool>())
                        "the central one in inference")

            testCase "a model with preprocessing layers trains with them, saves them, and predicts without them"
            <| fun () ->
                StreamSourceTests.withFolder (fun folder ->
                    use model =
                        new Functional.Training.Model(
                            Sequential(
                                RandomFlip(FlipMode.Horizontal),
                                RandomRotation(0.05),
                                RandomCrop(6L, 6L),
                                Flatten(),
                                Dense(2L)
                            ),
                            [| 1L; 8L; 8L |],
                            Functional.Losses.Loss.SparseCategoricalCrossEntropy(fromLogits = true),
                            Functional.Optimizers.Optimizer.Adam 1e-2,
                            seed = 0UL
                        )

                    torch.manual_seed 4L |> ignore
                    let x = torch.rand (32L, 1L, 8L, 8L)
                    let y = torch.randint (0L, 2L, [| 32L |])

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

                    ModelFile.Save(folder, model)
                    use loaded = ModelFile.LoadModel folder

                    Expect.equal
                        ((LayerRegistry.ToJson loaded.Network).ToJsonString())
                        ((LayerRegistry.ToJson model.Network).ToJsonString())
                        "the same layers"

                    expectClose "Predict: the central crop, no randomness" 0.0 (loaded.Predict x) (model.Predict x))

            testCase "Normalization.Adapt standardises its data; batch by batch equals all at once"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(11UL)

                    let data =
                        torch.randn ([| 200L; 3L |], generator = rng, dtype = torch.float64)
                        * torch.tensor ([| 2.0; 0.1; 5.0 |])
                        + torch.tensor ([| 1.0; -3.0; 0.0 |])

                    let whole = Normalization.Adapt data

                    let streamed =
                        Normalization.Adapt(
                            [
                                data.narrow (0L, 0L, 7L)
                                data.narrow (0L, 7L, 150L)
                                data.narrow (0L, 157L, 43L)
                            ]
                        )

                    expectClose "means" 1e-9 (torch.tensor whole.Mean) (torch.tensor streamed.Mean)
                    expectClose "variances" 1e-9 (torch.tensor whole.Variance) (torch.tensor streamed.Variance)
                    let v = whole.Init(rng, [| 3L |])
                    let y = apply whole v (data.to_type torch.float32)
                    expectClose "mean 0" 1e-4 (y.mean ([| 0L |])) (torch.zeros 3L)
                    expectClose "std 1" 1e-3 (y.std ([| 0L |], false)) (torch.ones 3L)
                    // A constant feature stays finite (the deviation is at least epsilon).
                    let constant = Normalization.Adapt(torch.ones (5L, 2L))
                    let z = apply constant (constant.Init(rng, [| 2L |])) (torch.ones (2L, 2L))
                    expectClose "constant feature" 0.0 z (torch.zeros (2L, 2L))
                    // Statistics along another axis: channels of (channels, length).
                    let channels =
                        Normalization.Adapt(
                            torch.randn (4L, 2L, 6L) + torch.tensor([| 10.0f; -10.0f |]).view(1L, 2L, 1L),
                            axis = 0
                        )

                    Expect.equal channels.Mean.Length 2 "one mean per channel"
                    Expect.isGreaterThan channels.Mean.[0] 9.0 "channel 0 mean"

                    expectThrowsWith<ArgumentException> [ "at least one example" ] (fun () ->
                        Normalization.Adapt(Seq.empty<torch.Tensor>) |> ignore)

                    expectThrowsWith<ShapeException> [ "'normalization'"; "3 features" ] (fun () ->
                        whole.OutputShape [| 4L |] |> ignore))

            testCase "Conv2DTranspose is the adjoint of Conv2D with the same kernel, with Keras's output sizes"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(12UL)

                    for kernel, stride in [ 3L, 2L; 2L, 2L; 3L, 1L ] do
                        let layer = Conv2DTranspose(3L, kernel, stride, useBias = false)
                        let v = layer.Init(rng, [| 2L; 4L; 5L |])
                        let x = torch.randn ([| 2L; 2L; 4L; 5L |], generator = rng, dtype = torch.float64)
                        let up = apply layer (Variables(v.Params.To torch.float64, v.State)) x

                        Expect.sequenceEqual
                            up.shape
                            [| 2L; 3L; (4L - 1L) * stride + kernel; (5L - 1L) * stride + kernel |]
                            "valid size"

                        let y = torch.randn (up.shape, generator = rng, dtype = torch.float64)

                        let down =
                            torch.nn.functional.conv2d (
                                y,
                                v.Params.["kernel"].to_type torch.float64,
                                strides = [| stride; stride |]
                            )

                        expectClose
                            $"<T x, y> = <x, C y> (kernel {kernel}, stride {stride})"
                            1e-9
                            ((up * y).sum())
                            ((x * down).sum())

                    Expect.sequenceEqual
                        (Conv2DTranspose(1L, 3L, 2L, Padding.Same).OutputShape [| 1L; 4L; 5L |])
                        [| 1L; 8L; 10L |]
                        "same: size * stride"

                    Expect.sequenceEqual
                        (Conv2DTranspose(1L, 1L, 3L).OutputShape [| 1L; 4L; 5L |])
                        [| 1L; 12L; 15L |]
                        "valid, kernel < stride")

            testCase "UpSampling2D repeats pixels; ZeroPadding2D adds zeros around the image"
            <| fun () ->
                scoped (fun () ->
                    let x = torch.arange(12.0f).reshape(1L, 2L, 2L, 3L)
                    let up = apply (UpSampling2D(2L)) Variables.None x

                    for i in 0L .. 3L do
                        for j in 0L .. 5L do
                            expectClose
                                $"pixel ({i}, {j})"
                                0.0
                                (up
                                    .[torch.TensorIndex.Colon,
                                      torch.TensorIndex.Colon,
                                      torch.TensorIndex.Single i,
                                      torch.TensorIndex.Single j])
                                (x
                                    .[torch.TensorIndex.Colon,
                                      torch.TensorIndex.Colon,
                                      torch.TensorIndex.Single(i / 2L),
                                      torch.TensorIndex.Single(j / 2L)])

                    let padded = apply (ZeroPadding2D(1L, 2L, 0L, 3L)) Variables.None x
                    Expect.sequenceEqual padded.shape [| 1L; 2L; 5L; 6L |] "padded shape"
                    expectClose "interior" 0.0 (padded.narrow(2L, 1L, 2L).narrow(3L, 0L, 3L)) x

                    Expect.equal
                        (padded.abs().sum().item<float32>())
                        (x.abs().sum().item<float32>())
                        "the border is zeros"

                    expectThrowsWith<ArgumentOutOfRangeException> [ "non-negative" ] (fun () ->
                        ZeroPadding2D(-1L) |> ignore))

            testCase "SimpleRnn is the hand-written recurrence"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(13UL)
                    let layer = SimpleRnn(3L, returnSequences = true)
                    let v = layer.Init(rng, [| 4L; 2L |])
                    let x = torch.randn ([| 2L; 4L; 2L |], generator = rng)
                    let p = v.Params
                    let mutable h = torch.zeros (2L, 3L)

                    let steps =
                        [
                            for t in 0L .. 3L do
                                h <-
                                    (x.select(1L, t).matmul(p.["kernel"])
                                     + h.matmul (p.["recurrent_kernel"])
                                     + p.["bias"])
                                        .tanh()

                                h
                        ]

                    expectClose "every step" 1e-6 (apply layer v x) (torch.stack (steps, 1L)))

            testCase "TimeDistributed applies its layer at each step; Bidirectional runs forwards and backwards"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(14UL)
                    let dense = Dense(2L, ActivationFunction.Tanh)
                    let wrapped = TimeDistributed(dense)
                    let v = wrapped.Init(rng, [| 3L; 4L |])
                    let x = torch.randn ([| 2L; 3L; 4L |], generator = rng)

                    expectClose
                        "time distributed dense = dense over the last axis"
                        1e-6
                        (apply wrapped v x)
                        (apply dense v x)

                    let gru = Gru(2L, returnSequences = true)
                    let both = Bidirectional(gru)
                    let bv = both.Init(rng, [| 3L; 4L |])
                    let y = apply both bv x
                    Expect.sequenceEqual y.shape [| 2L; 3L; 4L |] "two directions side by side"

                    let own (d: string) =
                        Variables(bv.Params.Select d, bv.State.Select d)

                    expectClose "forward half" 1e-6 (y.narrow (2L, 0L, 2L)) (apply gru (own "forward") x)

                    expectClose
                        "backward half"
                        1e-6
                        (y.narrow (2L, 2L, 2L))
                        ((apply gru (own "backward") (x.flip (1L))).flip(1L))

                    let summed = apply (Bidirectional(gru, BidirectionalMerge.Sum)) bv x
                    expectClose "sum merge" 1e-6 summed (y.narrow (2L, 0L, 2L) + y.narrow (2L, 2L, 2L)))

            testCase "Lambda layers are saved by function name; unknown names and missing ONNX forms are named"
            <| fun () ->
                scoped (fun () ->
                    expectThrowsWith<ArgumentException> [ "'cube'"; "Lambda.Register" ] (fun () ->
                        Lambda("cube") |> ignore)

                    let json = LayerRegistry.ToJson(Lambda("square", name = "sq"))

                    Expect.equal
                        (json.ToJsonString())
                        """{"type":"lambda","name":"sq","config":{"function":"square"}}"""
                        "described by name"

                    let unknown = json.ToJsonString().Replace("square", "cube")

                    expectThrowsWith<InvalidDataException> [ "'cube'"; "$.config" ] (fun () ->
                        LayerRegistry.FromJson(System.Text.Json.Nodes.JsonNode.Parse unknown) |> ignore)

                    let half = Sequential(Dense(4L), Lambda("halve_last"))
                    use rng = new torch.Generator(0UL)
                    let v = half.Init(rng, [| 3L |])

                    Expect.sequenceEqual
                        (apply half v (torch.ones (2L, 3L))).shape
                        [| 2L; 2L |]
                        "the registered shape rule"

                    expectThrowsWith<NotSupportedException> [ "'halve_last'"; "ONNX" ] (fun () ->
                        OnnxExport.ToModel(half, [| 3L |], v) |> ignore))

            testCase "nested models: the summary walks into them; a model saves and loads with them"
            <| fun () ->
                scoped (fun () ->
                    let network =
                        Sequential(Dense(6L), nestedFunctional (), Sequential([ Dense(2L) :> ILayer ], "head"))

                    let summary = network.Summary [| 3L |]

                    for fragment in
                        [
                            "block/hidden (dense)"
                            "block/dense (dense)"
                            "block/concatenate"
                            "head/dense (dense)"
                            "(batch, 6)"
                            "Total params: 76"
                        ] do
                        Expect.stringContains summary fragment "summary row"

                    let folder = Path.Combine(Path.GetTempPath(), $"functional-{Guid.NewGuid():N}")

                    try
                        use model =
                            new Functional.Training.Model(
                                network,
                                [| 3L |],
                                Functional.Losses.Loss.MeanSquaredError,
                                Functional.Optimizers.Optimizer.Sgd 0.1
                            )

                        ModelFile.Save(folder, model)
                        let struct (rebuilt, _, state) = ModelFile.Load folder
                        let x = torch.randn (4L, 3L)

                        expectClose
                            "same predictions"
                            0.0
                            (apply rebuilt (Variables(state.Params, state.ModelState)) x)
                            (apply network (Variables(model.State.Params, model.State.ModelState)) x)
                    finally
                        if Directory.Exists folder then
                            Directory.Delete(folder, true))
        ]
