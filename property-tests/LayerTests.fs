/// Layers: gradients against finite differences (float64, random shapes and settings),
/// training/inference semantics, composition, and shape errors that name the layer.
module Functional.PropertyTests.LayerTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees
open Functional.Layers
open Functional.Verification
open Functional.Autodiff
open Functional.FSharp.Testing
open Support

/// Checks d(output)/d(params, input) of a layer applied in the given mode, in float64.
let private checkLayer (layer: ILayer) (inputShape: int64[]) (batch: int64) (training: bool) (seed: int) =
    use rng = new torch.Generator(uint64 seed)
    let variables = layer.Init(rng, inputShape)

    let x =
        torch.randn ([| yield batch; yield! inputShape |], generator = rng, dtype = torch.float64)

    let tree =
        TensorTree.Node(struct ("params", variables.Params), struct ("x", TensorTree.Leaf x))

    let state = variables.State.To torch.float64

    let f (t: TensorTree) =
        // Dropout draws the same mask in every evaluation: the mask is a function of the key.
        let context =
            if training then
                ApplyContext.Train(uint64 (seed + 1))
            else
                ApplyContext.Inference

        let struct (y, _) =
            layer.Apply(Variables(t.Select "params", state), t.["x"], context)

        TensorTree.Leaf y

    let report = GradCheck.Check(Func<TensorTree, TensorTree>(f), tree)

    if not report.Passed then
        failtestf "%s: %O" layer.Name report

    true

let private settings =
    gen {
        let! batch = Gen.choose (2, 3)
        let! seed = Gen.choose (0, 10_000)
        return int64 batch, seed
    }

let private layerProperty name (make: Gen<ILayer * int64[] * bool>) =
    testPropertyWithConfig
        { config with maxTest = 12 }
        name
        (Prop.forAll (Arb.fromGen (Gen.zip make settings)) (fun ((layer, shape, training), (batch, seed)) ->
            scoped (fun () -> checkLayer layer shape batch training seed)))

let private activations =
    [
        ActivationFunction.Linear
        ActivationFunction.Tanh
        ActivationFunction.Sigmoid
        ActivationFunction.Gelu
        ActivationFunction.Silu
        ActivationFunction.Softmax
    ]

let gradientTests =
    testList
        "layer gradients match finite differences"
        [
            layerProperty
                "dense"
                (gen {
                    let! features = Gen.choose (1, 4)
                    let! units = Gen.choose (1, 4)
                    let! activation = Gen.elements activations
                    let! useBias = Gen.elements [ true; false ]
                    return (Dense(int64 units, activation, useBias) :> ILayer), [| int64 features |], false
                })

            layerProperty
                "conv1d"
                (gen {
                    let! channels = Gen.choose (1, 3)
                    let! length = Gen.choose (3, 6)
                    let! kernel = Gen.elements [ 1L; 3L ]
                    let! stride = Gen.choose (1, 2)
                    let! padding = Gen.elements [ Padding.Valid; Padding.Same ]

                    return
                        (Conv1D(2L, kernel, int64 stride, padding, ActivationFunction.Tanh) :> ILayer),
                        [| int64 channels; int64 length |],
                        false
                })

            layerProperty
                "conv2d"
                (gen {
                    let! channels = Gen.choose (1, 2)
                    let! size = Gen.choose (3, 5)
                    let! kernel = Gen.elements [ 1L; 3L ]
                    let! stride = Gen.choose (1, 2)
                    let! padding = Gen.elements [ Padding.Valid; Padding.Same ]

                    return
                        (Conv2D(2L, kernel, int64 stride, padding) :> ILayer),
                        [| int64 channels; int64 size; int64 size |],
                        false
                })

            layerProperty
                "pooling (average; max on distinct values)"
                (gen {
                    let! size = Gen.choose (2, 5)
                    let! pool = Gen.elements [ 1L; 2L ]

                    let! layer =
                        Gen.elements
                            [
                                (AveragePool2D(pool) :> ILayer), true
                                (MaxPool2D(pool) :> ILayer), true
                                (AveragePool1D(pool) :> ILayer), false
                                (MaxPool1D(pool) :> ILayer), false
                                (GlobalPool(PoolKind.Average) :> ILayer), true
                            ]

                    let layer, twoD = layer

                    return
                        layer,
                        (if twoD then
                             [| 2L; int64 size; int64 size |]
                         else
                             [| 2L; int64 size |]),
                        false
                })

            layerProperty
                "batch norm (training: batch statistics)"
                (gen {
                    let! features = Gen.choose (1, 3)
                    let! spatial = Gen.elements [ [||]; [| 3L |]; [| 2L; 2L |] ]
                    return (BatchNorm() :> ILayer), Array.append [| int64 features |] spatial, true
                })

            layerProperty
                "batch norm (inference: running statistics)"
                (gen {
                    let! features = Gen.choose (1, 3)
                    return (BatchNorm() :> ILayer), [| int64 features |], false
                })

            layerProperty
                "layer norm"
                (gen {
                    let! features = Gen.choose (2, 5)
                    return (LayerNorm() :> ILayer), [| 2L; int64 features |], false
                })

            layerProperty
                "dropout (training, fixed generator)"
                (gen {
                    let! rate = Gen.elements [ 0.0; 0.3; 0.6 ]
                    return (Dropout(rate) :> ILayer), [| 4L |], true
                })

            layerProperty
                "lstm and gru (sequences or last state)"
                (gen {
                    let! time = Gen.choose (1, 3)
                    let! features = Gen.choose (1, 3)
                    let! units = Gen.choose (1, 3)
                    let! sequences = Gen.elements [ true; false ]
                    let! lstm = Gen.elements [ true; false ]

                    let layer =
                        if lstm then
                            Lstm(int64 units, sequences) :> ILayer
                        else
                            Gru(int64 units, sequences) :> ILayer

                    return layer, [| int64 time; int64 features |], false
                })

            layerProperty
                "multi-head attention (plain and causal)"
                (gen {
                    let! time = Gen.choose (1, 3)
                    let! features = Gen.choose (2, 4)
                    let! heads = Gen.choose (1, 2)
                    let! causal = Gen.elements [ true; false ]

                    return
                        (MultiHeadAttention(int64 heads, 2L, causal) :> ILayer), [| int64 time; int64 features |], false
                })

            layerProperty
                "flatten, reshape, residual and sequential"
                (gen {
                    let! layer =
                        Gen.elements
                            [
                                (Sequential(Flatten(), Dense(3L, ActivationFunction.Tanh)) :> ILayer)
                                (Sequential(Reshape([| 6L; -1L |]), Dense(2L)) :> ILayer)
                                (Sequential(Flatten(), Residual(Dense(12L, ActivationFunction.Tanh)), Dense(1L))
                                :> ILayer)
                            ]

                    return layer, [| 3L; 4L |], false
                })
        ]

let semanticsTests =
    testList
        "layer semantics"
        [
            testPropertyWithConfig
                config
                "MaxPool2D gives libtorch's max_pool2d values and gradients (ties, overlaps, padding)"
            <| fun (seed: int) ->
                scoped (fun () ->
                    use g = new torch.Generator(uint64 (abs seed))

                    for pool, stride, padding in
                        [
                            2L, None, Padding.Valid
                            3L, Some 1L, Padding.Same
                            3L, Some 2L, Padding.Valid
                        ] do
                        let layer = MaxPool2D(pool, Option.toNullable stride, padding)
                        // Rounded values after a ReLU: many ties, as in a real network.
                        let x =
                            torch
                                .randn([| 2L; 3L; 7L; 6L |], generator = g)
                                .mul(2.0.ToScalar())
                                .round()
                                .relu()
                                .requires_grad_()

                        let y =
                            fst (
                                layer
                                    .Apply(Variables(TensorTree.Empty, TensorTree.Empty), x, ApplyContext.Inference)
                                    .ToTuple()
                            )

                        let s = stride |> Option.defaultValue pool
                        let pad = if padding = Padding.Same then pool / 2L else 0L

                        let reference =
                            torch.nn.functional.max_pool2d (x, [| pool; pool |], [| s; s |], [| pad; pad |])

                        expectClose $"values (pool {pool}, stride {s}, {padding})" 0.0 y reference
                        let upstream = torch.randn (y.shape, generator = g)

                        let gradient (output: torch.Tensor) =
                            torch.autograd.backward ([| output |], [| upstream |])
                            let g = x.grad.clone ()
                            x.grad.zero_ () |> ignore
                            g

                        let ours, theirs = gradient y, gradient reference
                        expectClose $"gradients (pool {pool}, stride {s}, {padding})" 0.0 ours theirs)

            testCase "output shapes are known without data and match what Apply returns"
            <| fun () ->
                scoped (fun () ->
                    let model =
                        Sequential(Conv2D(4L, 3L, padding = Padding.Same), MaxPool2D(), Flatten(), Dense(5L))

                    let shape = model.OutputShape [| 1L; 8L; 8L |]
                    Expect.sequenceEqual shape [| 5L |] "inferred"
                    use rng = new torch.Generator(0UL)
                    let v = model.Init(rng, [| 1L; 8L; 8L |])

                    let struct (y, _) =
                        model.Apply(v, torch.randn (3L, 1L, 8L, 8L), ApplyContext.Inference)

                    Expect.sequenceEqual y.shape [| 3L; 5L |] "actual")

            testCase "Sequential equals the manual composition, with Keras-style unique names"
            <| fun () ->
                scoped (fun () ->
                    let first, second = Dense(4L, ActivationFunction.Relu), Dense(2L)
                    let model = Sequential(first, second)

                    Expect.sequenceEqual
                        (model.Layers |> Seq.map (fun struct (n, _) -> n))
                        [ "dense"; "dense_1" ]
                        "names"

                    use rng = new torch.Generator(1UL)
                    let v = model.Init(rng, [| 3L |])

                    Expect.sequenceEqual
                        v.Params.Paths
                        [ "dense/kernel"; "dense/bias"; "dense_1/kernel"; "dense_1/bias" ]
                        "paths"

                    let x = torch.randn (5L, 3L)
                    let struct (y, _) = model.Apply(v, x, ApplyContext.Inference)

                    let struct (h, _) =
                        first.Apply(Variables(v.Params.Select "dense", TensorTree.Empty), x, ApplyContext.Inference)

                    let struct (z, _) =
                        second.Apply(Variables(v.Params.Select "dense_1", TensorTree.Empty), h, ApplyContext.Inference)

                    expectClose "composition" 0.0 y z)

            testCase "embedding: rows by id, gradients to the rows used, ids checked"
            <| fun () ->
                scoped (fun () ->
                    let layer = Embedding(5L, 3L)
                    use rng = new torch.Generator(0UL)
                    let v = layer.Init(rng, [| 4L |])
                    let ids = torch.tensor([| 0L; 4L; 4L; 2L; 1L; 0L; 3L; 3L |]).reshape(2L, 4L)
                    let struct (y, _) = layer.Apply(v, ids, ApplyContext.Inference)
                    Expect.sequenceEqual y.shape [| 2L; 4L; 3L |] "shape"
                    expectClose "row 4" 0.0 (y.[0L, 1L]) (v.Params.["embeddings"].[4L])

                    let f (t: TensorTree) =
                        let struct (out, _) =
                            layer.Apply(Variables(t, TensorTree.Empty), ids, ApplyContext.Inference) in

                        TensorTree.Leaf(out.tanh ())

                    let report = GradCheck.Check(Func<TensorTree, TensorTree>(f), v.Params)
                    Expect.isTrue report.Passed (string report)

                    expectThrowsWith<ShapeException> [ "'embedding'"; "[0, 5)"; "7" ] (fun () ->
                        layer.Apply(v, torch.tensor([| 1L; 7L |]).reshape(1L, 2L), ApplyContext.Inference)
                        |> ignore)

                    expectThrowsWith<DtypeException> [ "'embedding'"; "integer"; "Float32" ] (fun () ->
                        layer.Apply(v, torch.ones (1L, 2L), ApplyContext.Inference) |> ignore))

            testCase "recurrent layers: the last state is the last step of the sequence"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(3UL)
                    let x = torch.randn ([| 2L; 5L; 3L |], generator = rng)

                    for make in [ (fun s -> Lstm(4L, s) :> ILayer); (fun s -> Gru(4L, s) :> ILayer) ] do
                        let sequences, last = make true, make false
                        let v = sequences.Init(rng, [| 5L; 3L |])
                        let struct (all, _) = sequences.Apply(v, x, ApplyContext.Inference)
                        let struct (final, _) = last.Apply(v, x, ApplyContext.Inference)
                        Expect.sequenceEqual all.shape [| 2L; 5L; 4L |] "sequence shape"
                        expectClose $"{last.Name} last state" 0.0 final (all.select (1L, 4L))

                        expectThrowsWith<ShapeException> [ "(batch, time, 3)" ] (fun () ->
                            last.Apply(v, torch.ones (2L, 5L, 2L), ApplyContext.Inference) |> ignore)
                    // Initialisers are overridable.
                    let zeros =
                        Lstm(
                            2L,
                            kernelInitializer = Initializers.Zeros,
                            recurrentInitializer = Initializers.Normal 0.5
                        )
                            .Init(rng, [| 5L; 3L |])

                    Expect.equal (zeros.Params.["kernel"].abs().sum().item<float32>()) 0.0f "zero kernel"

                    Expect.isGreaterThan
                        (zeros.Params.["recurrent_kernel"].abs().sum().item<float32>())
                        0.0f
                        "normal recurrent kernel")

            testCase "an F# layer from plain functions works inside Sequential, gradients included"
            <| fun () ->
                scoped (fun () ->
                    // y = x * scale + shift, with a record of parameters.
                    let affine =
                        Functional.FSharp.Layer.ofFunctions
                            "affine"
                            id
                            (fun _ shape ->
                                {|
                                    Scale = torch.ones (shape)
                                    Shift = torch.zeros (shape)
                                |})
                            (fun p x -> x * p.Scale + p.Shift)

                    let model = Sequential(affine, Dense(1L))
                    use rng = new torch.Generator(0UL)
                    let v = model.Init(rng, [| 2L |])

                    Expect.sequenceEqual
                        v.Params.Paths
                        [ "affine/Scale"; "affine/Shift"; "dense/kernel"; "dense/bias" ]
                        "paths"

                    let x = torch.randn (4L, 2L, dtype = torch.float64)

                    let f (t: TensorTree) =
                        let struct (y, _) = model.Apply(Variables(t, v.State), x, ApplyContext.Inference) in
                        TensorTree.Leaf y

                    let report = GradCheck.Check(Func<TensorTree, TensorTree>(f), v.Params)
                    Expect.isTrue report.Passed (string report))

            testCase "summary lists layers, output shapes and parameter counts"
            <| fun () ->
                let summary = Sequential(Flatten(), Dense(10L), BatchNorm()).Summary [| 2L; 3L |]

                for fragment in
                    [
                        "flatten (flatten)"
                        "(batch, 6)"
                        "dense (dense)"
                        "(batch, 10)"
                        "70"
                        "batch_norm"
                        "Total params: 110"
                        "Trainable params: 90"
                        "Non-trainable params: 20"
                    ] do
                    Expect.stringContains summary fragment "summary"

            testCase "dropout: identity in inference, same mask from the same key, mean preserved"
            <| fun () ->
                scoped (fun () ->
                    let layer = Dropout(0.5)
                    let x = torch.ones (1000L, 10L)
                    let struct (inference, _) = layer.Apply(Variables.None, x, ApplyContext.Inference)
                    expectClose "inference" 0.0 inference x

                    let run (seed: uint64) =
                        let struct (y, _) = layer.Apply(Variables.None, x, ApplyContext.Train seed)
                        y

                    expectClose "reproducible" 0.0 (run 7UL) (run 7UL)
                    Expect.isFalse (torch.allclose (run 7UL, run 8UL)) "another seed, another mask"

                    Expect.floatClose
                        { absolute = 0.05; relative = 0.0 }
                        ((run 7UL).mean().item<float32>() |> float)
                        1.0
                        "mean preserved"

                    Expect.throwsT<ArgumentException>
                        (fun () -> layer.Apply(Variables.None, x, ApplyContext(true)) |> ignore)
                        "training needs a key")

            testCase "batch norm: batch statistics and new running statistics in training, running ones in inference"
            <| fun () ->
                scoped (fun () ->
                    let layer = BatchNorm(momentum = 0.9)
                    use rng = new torch.Generator(0UL)
                    let v = layer.Init(rng, [| 2L |])
                    let x = torch.tensor([| 1.0f; 10.0f; 3.0f; 30.0f |]).reshape(2L, 2L)
                    let struct (y, state) = layer.Apply(v, x, ApplyContext.Train 0UL)

                    expectClose
                        "normalised per feature"
                        1e-3
                        (y.to_type torch.float64)
                        (torch.tensor([| -1.0; -1.0; 1.0; 1.0 |], dtype = torch.float64).reshape(2L, 2L))
                    // running = 0.9 * old + 0.1 * batch (variance unbiased: 2 and 200)
                    expectClose "running mean" 1e-5 (state.["mean"].to_type torch.float64) (vector [ 0.2; 2.0 ])

                    expectClose
                        "running variance"
                        1e-4
                        (state.["variance"].to_type torch.float64)
                        (vector [ 0.9 + 0.2; 0.9 + 20.0 ])

                    let struct (inference, same) =
                        layer.Apply(Variables(v.Params, state), x, ApplyContext.Inference)

                    Expect.isTrue (Object.ReferenceEquals(same, state)) "inference keeps the state"
                    let expected = (x - state.["mean"]) / (state.["variance"] + 1e-3).sqrt()
                    expectClose "inference uses running statistics" 1e-5 inference expected)

            testCase "a wrong input names the layer, the expected and the received shape"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(0UL)
                    let dense = Dense(3L, name = "classifier")
                    let v = dense.Init(rng, [| 4L |])

                    expectThrowsWith<ShapeException> [ "'classifier'"; "(batch, ..., 4)"; "(batch, 5)" ] (fun () ->
                        dense.Apply(v, torch.ones (2L, 5L), ApplyContext.Inference) |> ignore)

                    let conv = Conv2D(2L, 3L)
                    let cv = conv.Init(rng, [| 1L; 5L; 5L |])

                    expectThrowsWith<ShapeException>
                        [ "'conv2d'"; "(batch, 1, height, width)"; "(batch, 3, 5, 5)" ]
                        (fun () -> conv.Apply(cv, torch.ones (2L, 3L, 5L, 5L), ApplyContext.Inference) |> ignore)

                    expectThrowsWith<ShapeException> [ "'conv2d'"; "smaller than the kernel" ] (fun () ->
                        conv.OutputShape [| 1L; 2L; 2L |] |> ignore)

                    expectThrowsWith<DtypeException> [ "'classifier'"; "floating-point"; "Int64" ] (fun () ->
                        dense.Apply(v, torch.ones (2L, 4L, dtype = torch.int64), ApplyContext.Inference)
                        |> ignore)

                    expectThrowsWith<ShapeException> [ "'residual'"; "same shape" ] (fun () ->
                        Residual(Dense(2L)).OutputShape [| 3L |] |> ignore))
        ]

let graphTests =
    testList
        "functional graphs"
        [
            testCase "branches, a shared layer and merges equal the same computation by hand"
            <| fun () ->
                scoped (fun () ->
                    let input = Graph.Input([| 3L |], "x")
                    let shared = Dense(4L, ActivationFunction.Tanh, name = "shared")
                    let a = shared.Call(input)
                    let b = shared.Call(Dense(3L, name = "pre").Call(input))
                    let joined = Graph.Concatenate(-1, Graph.Add(a, b), a)
                    let model = FunctionalModel([ input ], [ Dense(2L, name = "head").Call(joined) ])
                    Expect.sequenceEqual model.OutputShapes.[0] [| 2L |] "shape inferred"
                    use rng = new torch.Generator(0UL)
                    let v = model.Init(rng)

                    Expect.sequenceEqual
                        (v.Params.Paths |> Seq.map (fun p -> p.Split('/').[0]) |> Seq.distinct)
                        [ "shared"; "pre"; "head" ]
                        "one set of variables per layer"

                    let x = torch.randn (5L, 3L)
                    let struct (y, _) = model.Apply(v, x, ApplyContext.Inference)

                    let dense (name: string) (h: torch.Tensor) =
                        h.matmul (v.Params.[name + "/kernel"]) + v.Params.[name + "/bias"]

                    let ha = (dense "shared" x).tanh()
                    let hb = (dense "shared" (dense "pre" x)).tanh()
                    expectClose "by hand" 1e-6 y (dense "head" (torch.cat ([| ha + hb; ha |], 1L))))

            testCase "several inputs and outputs; shape mistakes are caught while building"
            <| fun () ->
                scoped (fun () ->
                    let left, right = Graph.Input([| 2L |]), Graph.Input([| 3L |])
                    let joined = Graph.Concatenate(0, left, right)
                    let model = FunctionalModel([ left; right ], [ Dense(1L).Call(joined); joined ])
                    use rng = new torch.Generator(0UL)

                    let struct (outputs, _) =
                        model.ApplyAll(
                            model.Init rng,
                            [| torch.ones (4L, 2L); torch.ones (4L, 3L) |],
                            ApplyContext.Inference
                        )

                    Expect.sequenceEqual outputs.[1].shape [| 4L; 5L |] "concatenated"

                    expectThrowsWith<ShapeException> [ "Add"; "(batch, 2)"; "(batch, 3)" ] (fun () ->
                        Graph.Add(left, right) |> ignore)

                    expectThrowsWith<ShapeException> [ "'conv2d'" ] (fun () -> Conv2D(2L, 3L).Call(left) |> ignore)

                    expectThrowsWith<ArgumentException> [ "not among the model's inputs" ] (fun () ->
                        FunctionalModel([ left ], [ joined ]) |> ignore)

                    expectThrowsWith<InvalidOperationException> [ "ApplyAll" ] (fun () ->
                        model.OutputShape [| 2L |] |> ignore)

                    let summary = model.Summary()

                    for fragment in [ "concatenate"; "(batch, 5)"; "dense (dense)"; "Total params: 6" ] do
                        Expect.stringContains summary fragment "summary")

            testCase "causal attention: no position sees a later one"
            <| fun () ->
                scoped (fun () ->
                    let layer = MultiHeadAttention(2L, 3L, causal = true)
                    use rng = new torch.Generator(0UL)
                    let v = layer.Init(rng, [| 4L; 5L |])
                    let x = torch.randn (1L, 4L, 5L, dtype = torch.float64)
                    let p = v.Params.To torch.float64

                    let firstStep (t: torch.Tensor) =
                        let struct (y, _) =
                            layer.Apply(Variables(p, TensorTree.Empty), t, ApplyContext.Inference) in

                        y.select(1L, 0L).sum()

                    let g = Transforms.Grad(Func<torch.Tensor, torch.Tensor>(firstStep)).Invoke x

                    expectClose
                        "later positions"
                        0.0
                        (g.narrow (1L, 1L, 3L))
                        (torch.zeros (1L, 3L, 5L, dtype = torch.float64)))
        ]

let tests = testList "layers" [ gradientTests; semanticsTests; graphTests ]
