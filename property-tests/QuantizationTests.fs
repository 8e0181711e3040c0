/// int8 quantization: the affine rules and the straight-through gradient, static (calibrated),
/// dynamic and weight-only rewrites, BatchNorm folding, quantization-aware training, saving,
/// ONNX export and the integer kernels ONNX Runtime runs it with.
module Functional.PropertyTests.QuantizationTests

open System
open System.IO
open Expecto
open FsCheck
open Microsoft.ML.OnnxRuntime
open TorchSharp
open Functional.Trees
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Persistence
open Functional.Training
open Functional.Compilation
open Functional.Export
open Functional.ModelOptimization
open Support

/// Seeded blobs: 512 rows of 12 features, 4 classes.
let private blobs () = classBlobs 21UL 512L 12L 4L 1.5 0.6

let private fitted (network: ILayer) (shape: int64[]) (x: torch.Tensor) (y: torch.Tensor) epochs =
    let model =
        new Model(
            network,
            shape,
            Loss.SparseCategoricalCrossEntropy(true),
            Optimizer.Adam 1e-2,
            [ SparseCategoricalAccuracy() :> Metric ],
            3UL
        )

    model.Fit(x, y, FitOptions(Epochs = epochs, BatchSize = 64, Verbosity = Verbosity.Silent))
    |> ignore

    model

let private mlp () =
    fitted (Sequential(Dense(32L, ActivationFunction.Relu), Dense(16L, ActivationFunction.Relu), Dense(4L))) [| 12L |]

/// Seeded 10x10 images of 3 classes (a bright square in one of three places) and a small CNN fitted to them.
let private images () =
    use rng = new torch.Generator(8UL)
    let y = torch.randint (0L, 3L, [| 384L |], generator = rng)
    let x = torch.rand ([| 384L; 1L; 10L; 10L |], generator = rng) * 0.3

    for i in 0L .. 383L do
        let c = y.[i].item<int64>()

        x.[i].narrow(1L, 2L * c, 4L).narrow(2L, 3L, 4L).add_(torch.tensor 0.7f)
        |> ignore

    x, y

let private cnn (x: torch.Tensor) (y: torch.Tensor) =
    fitted
        (Sequential(
            Conv2D(8L, 3L),
            BatchNorm(),
            Activation(ActivationFunction.Relu),
            MaxPool2D(),
            Conv2D(16L, 3L, activation = ActivationFunction.Relu),
            Flatten(),
            Dense(16L, ActivationFunction.Relu),
            Dense(3L)
        ))
        [| 1L; 10L; 10L |]
        x
        y
        4

let private accuracy (predictions: torch.Tensor) (y: torch.Tensor) =
    predictions.argmax(1L).eq(y).to_type(torch.float64).mean().item<float>()

/// The operator types of ONNX Runtime's optimized form of an ONNX file (what it will run).
let private optimizedOps (path: string) =
    let optimized = path + ".opt.onnx"

    try
        use options =
            new SessionOptions(
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                OptimizedModelFilePath = optimized
            )

        use _ = new InferenceSession(path, options)
        let model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes optimized)
        model.Graph.Node |> Seq.map (fun n -> n.OpType) |> Set.ofSeq
    finally
        File.Delete optimized

let private withTemp (extension: string) (f: string -> unit) =
    let path =
        Path.Combine(Path.GetTempPath(), $"functional-quant-{Guid.NewGuid():N}{extension}")

    try
        f path
    finally
        if File.Exists path then
            File.Delete path

        if Directory.Exists path then
            Directory.Delete(path, true)

let tests =
    testList
        "quantization"
        [
            testCase
                "fake quantization rounds to the uint8 grid; its straight-through gradient is 1 inside the range and 0 outside"
            <| fun () ->
                scoped (fun () ->
                    let struct (scale, zeroPoint) = AffineQuantizer.ActivationParameters(-1.0, 3.0)
                    Expect.floatClose Accuracy.high (scale.item<float32>() |> float) (4.0 / 255.0) "scale"
                    Expect.equal (zeroPoint.item<float32>()) 64.0f "zero point: round(1 / (4/255))"

                    let x =
                        torch.tensor (
                            [| -2.0f; -1.1f; -0.5f; 0.0f; 0.013f; 1.0f; 2.99f; 3.2f; 5.0f |],
                            requires_grad = true
                        )

                    let y = AffineQuantizer.FakeQuantize(x, scale, zeroPoint, 0, 255)
                    let s = float (scale.item<float32>())

                    let expected =
                        x.detach().to_type(torch.float64).data<float>().ToArray()
                        |> Array.map (fun v ->
                            (Math.Clamp(Math.Round(v / s, MidpointRounding.ToEven) + 64.0, 0.0, 255.0) - 64.0)
                            * s)

                    expectClose
                        "forward: (clamp(round(x / s) + z, 0, 255) - z) s"
                        1e-6
                        y
                        (torch.tensor expected |> fun t -> t.to_type torch.float32)

                    Expect.equal (y.[3L].item<float32>()) 0.0f "zero is exact"

                    let grad =
                        (torch.autograd.grad ([| y.sum () |], [| x |], null, false, false, false)).[0]

                    Expect.sequenceEqual
                        (grad.data<float32>().ToArray())
                        [| 0.0f; 0.0f; 1.0f; 1.0f; 1.0f; 1.0f; 1.0f; 0.0f; 0.0f |]
                        "STE: 1 inside, 0 clipped"

                    let report =
                        Functional.Verification.GradCheck.Check(
                            Func<torch.Tensor, torch.Tensor>(fun v ->
                                AffineQuantizer
                                    .FakeQuantize(
                                        v,
                                        scale.to_type torch.float64,
                                        zeroPoint.to_type torch.float64,
                                        0,
                                        255
                                    )
                                    .sum()),
                            torch.tensor ([| 0.5 |], dtype = torch.float64)
                        )

                    Expect.isFalse
                        report.Passed
                        "the STE is deliberately not the true derivative (0 almost everywhere)")

            testPropertyWithConfig
                config
                "int8 weights per channel: scale = max |w| / 127, round trip within half a step, zero channels exact"
            <| fun (seed: PositiveInt) (rows: PositiveInt) (cols: PositiveInt) ->
                scoped (fun () ->
                    use rng = new torch.Generator(uint64 seed.Get)
                    let (r, c) = (1L + int64 (rows.Get % 9), 1L + int64 (cols.Get % 9))
                    let w = torch.randn ([| r; c |], generator = rng) * 3.0
                    w.select(1L, 0L).zero_() |> ignore
                    let scale = AffineQuantizer.WeightScale(w, 1)
                    let q = AffineQuantizer.QuantizeWeights(w, scale, 1)
                    Expect.equal q.dtype torch.int8 "int8"
                    Expect.isTrue (q.abs().max().item<int8>() <= 127y) "within [-127, 127]"
                    let back = AffineQuantizer.Dequantize(q, scale, axis = 1)
                    let error = (back - w).abs() / scale.unsqueeze (0L)
                    Expect.isTrue (error.max().item<float32>() <= 0.5f + 1e-4f) "within half a step"
                    Expect.equal (scale.[0L].item<float32>()) 1.0f "a zero channel gets scale 1"
                    Expect.equal (back.select(1L, 0L).abs().sum().item<float32>()) 0.0f "and stays zero")

            testCase "static int8 MLP: accurate, eager equals what ONNX Runtime computes, and it runs as QGemm"
            <| fun () ->
                let x, y = blobs ()
                use model = mlp () x y 6
                use int8 = Quantization.Static(model, x.narrow (0L, 0L, 128L))
                let floatPredictions = model.Predict x
                let eager = int8.Predict x
                Expect.isLessThan (abs (accuracy eager y - accuracy floatPredictions y)) 0.02 "within 2 points of float"

                Expect.isGreaterThan
                    ((eager - floatPredictions).abs().max().item<float32>())
                    0.0f
                    "quantization changes the outputs a little"

                Expect.isEmpty (int8.State.Params.Paths |> Seq.toList) "no float parameters left"
                Expect.equal int8.State.ModelState.["dense/kernel"].dtype torch.int8 "int8 kernels in the state"
                Expect.isTrue (int8.State.ModelState.ContainsLeaf "dense_1/input_range") "a range per quantized input"
                Expect.isFalse (int8.State.ModelState.ContainsLeaf "dense_2/output_range") "the logits stay float"
                use compiled = int8.Compile()
                let ort = compiled.Predict x
                let span = floatPredictions.abs().max().item<float32>()

                Expect.isLessThan
                    ((ort - eager).abs().max().item<float32>())
                    (0.02f * span)
                    "compiled int8 = eager int8"

                Expect.isGreaterThan
                    (ort.argmax(1L).eq(eager.argmax (1L)).to_type(torch.float64).mean().item<float>())
                    0.99
                    "same classes"

                withTemp ".onnx" (fun path ->
                    OnnxExport.Save(path, int8)
                    expectClose "the exported QDQ graph = compiled" 1e-5 (OnnxTests.runOnnx path x) ort
                    let ops = optimizedOps path
                    Expect.contains ops "QGemm" $"fused into integer GEMMs: {ops}"
                    Expect.isFalse (ops.Contains "Gemm" || ops.Contains "MatMul") $"no float product left: {ops}")

            testCase
                "static int8 CNN: BatchNorm folded, shared ranges across pooling, QLinearConv, saved as int8 and loaded back"
            <| fun () ->
                let x, y = images ()
                use model = cnn x y
                use folded = Quantization.FoldBatchNorm model
                expectClose "folding keeps the outputs" 1e-4 (folded.Predict x) (model.Predict x)
                Expect.equal (folded.Network :?> Sequential).Layers.Count 6 "conv + batch norm + relu became one layer"

                use int8 = Quantization.Static(model, x.narrow (0L, 0L, 128L))

                let layers =
                    (int8.Network :?> Sequential).Layers
                    |> Seq.map (fun struct (n, l) -> n, l)
                    |> Seq.toList

                let quantized =
                    layers
                    |> List.choose (fun (n, l) ->
                        match l with
                        | :? QuantizedLayer as q -> Some(n, q)
                        | _ -> None)

                Expect.equal
                    (quantized |> List.map fst)
                    [ "conv2d"; "conv2d_1"; "dense"; "dense_1" ]
                    "every conv and dense"

                let conv1 = snd quantized.[1]

                Expect.isFalse
                    conv1.QuantizeInput
                    "the second conv reads the first's quantized output through max pooling"

                expectClose
                    "and shares its range"
                    0.0
                    int8.State.ModelState.["conv2d_1/input_range"]
                    int8.State.ModelState.["conv2d/output_range"]

                let eager = int8.Predict x
                Expect.isGreaterThan (accuracy eager y) (accuracy (model.Predict x) y - 0.03) "accurate"
                use compiled = int8.Compile()
                let ort = compiled.Predict x

                Expect.isGreaterThan
                    (ort.argmax(1L).eq(eager.argmax (1L)).to_type(torch.float64).mean().item<float>())
                    0.98
                    "compiled = eager"

                withTemp ".onnx" (fun path ->
                    OnnxExport.Save(path, int8)
                    let ops = optimizedOps path
                    Expect.contains ops "QLinearConv" $"integer convolutions: {ops}"
                    Expect.isFalse (ops.Contains "Conv") $"no float convolution left: {ops}")

                withTemp "" (fun folder ->
                    ModelFile.Save(folder, int8, includeOptimizerState = false)
                    use loaded = ModelFile.LoadModel folder
                    expectClose "loaded int8 model predicts the same" 0.0 (loaded.Predict x) eager
                    Expect.equal loaded.State.ModelState.["conv2d/kernel"].dtype torch.int8 "int8 on disk"

                    let description =
                        File.ReadAllText(Directory.GetFiles(folder, "model*.json") |> Array.head)

                    Expect.stringContains description "\"quantized\"" "the description records the quantization"
                    Expect.stringContains description "\"activations\": \"Static\"" "and how")

            testCase "percentile calibration clips outliers that min-max keeps"
            <| fun () ->
                let x, y = blobs ()
                use model = mlp () x y 3
                let calibration = x.narrow(0L, 0L, 256L).clone()
                calibration.[0L, 0L] <- torch.tensor 80.0f
                use minMax = Quantization.Static(model, calibration)

                use percentile =
                    Quantization.Static(
                        model,
                        calibration,
                        QuantizationOptions(Calibration = Calibration.Percentile 99.9)
                    )

                let range (m: Model) =
                    m.State.ModelState.["dense/input_range"].data<float32>().ToArray()

                Expect.isGreaterThan (range minMax).[1] 79.0f "min-max keeps the outlier"
                Expect.isLessThan (range percentile).[1] 20.0f "the percentile drops it"
                let expected = model.Predict x

                let error (m: Model) =
                    (m.Predict x - expected).abs().mean().item<float32>()

                Expect.isLessThan (error percentile) (error minMax / 2.0f) "finer steps for the common values"

            testCase
                "dynamic int8: Dense, LSTM and attention quantized; Dense runs as DynamicQuantizeMatMul; weights only shrinks and computes in float"
            <| fun () ->
                scoped (fun () ->
                    use rng = new torch.Generator(5UL)
                    let x = torch.randn ([| 32L; 6L; 8L |], generator = rng)
                    let y = torch.randint (0L, 3L, [| 32L |], generator = rng)

                    use model =
                        fitted
                            (Sequential(
                                Dense(8L, ActivationFunction.Tanh),
                                Residual(MultiHeadAttention(2L, 4L)),
                                Lstm(12L),
                                Dense(3L)
                            ))
                            [| 6L; 8L |]
                            x
                            y
                            2

                    use dynamic = Quantization.Dynamic model

                    let kinds =
                        (dynamic.Network :?> Sequential).Layers
                        |> Seq.map (fun struct (_, l) -> LayerRegistry.KindOf l)
                        |> Seq.toList

                    Expect.equal kinds [ "quantized"; "residual"; "quantized"; "quantized" ] "Dense and LSTM wrapped"

                    match (dynamic.Network :?> Sequential).Layers.[1] with
                    | struct (_, (:? Residual as r)) ->
                        Expect.isTrue (r.Inner :? QuantizedLayer) "attention inside the residual too"
                    | _ -> failtest "the residual is kept"

                    Expect.equal
                        dynamic.State.ModelState.["residual/query/kernel"].dtype
                        torch.int8
                        "attention projections int8"

                    Expect.equal
                        dynamic.State.ModelState.["lstm/recurrent_kernel"].dtype
                        torch.int8
                        "recurrent kernels too"

                    let expected = model.Predict x
                    let span = expected.abs().max().item<float32>()

                    Expect.isLessThan
                        ((dynamic.Predict x - expected).abs().max().item<float32>())
                        (0.05f * span)
                        "close to float"

                    withTemp ".onnx" (fun path ->
                        OnnxExport.Save(path, dynamic)

                        Expect.isLessThan
                            ((OnnxTests.runOnnx path x - expected).abs().max().item<float32>())
                            (0.05f * span)
                            "ONNX Runtime too"

                        Expect.contains (optimizedOps path) "DynamicQuantizeMatMul" "integer products")

                    use weights = Quantization.WeightsOnly model

                    Expect.isLessThan
                        ((weights.Predict x - expected).abs().max().item<float32>())
                        (0.05f * span)
                        "weights only: close"

                    Expect.equal weights.State.ModelState.["dense/kernel"].dtype torch.int8 "int8 weights"
                    use compiled = weights.Compile()

                    expectClose
                        "compiled, the weights-only model computes in float32 as it does eagerly"
                        1e-5
                        (compiled.Predict x)
                        (weights.Predict x))

            testCase
                "quantization-aware training keeps the parameters' paths, learns the ranges, and converts to the int8 model it trained"
            <| fun () ->
                let x, y = blobs ()
                use model = mlp () x y 2
                use qat = Quantization.PrepareForTraining model
                Expect.sequenceEqual qat.State.Params.Paths model.State.Params.Paths "same parameters"
                expectTreesClose "optimizer state carried over" 0.0 qat.State.OptState model.State.OptState

                expectThrowsWith<ArgumentException> [ "never observed"; "Fit" ] (fun () ->
                    use _ = Quantization.Convert qat
                    ())

                let before = qat.Evaluate(x, y).["loss"]

                qat.Fit(x, y, FitOptions(Epochs = 3, BatchSize = 64, Verbosity = Verbosity.Silent))
                |> ignore

                Expect.isLessThan (qat.Evaluate(x, y).["loss"]) before "it trains through the fake quantization"
                let range = qat.State.ModelState.["dense/input_range"].data<float32>().ToArray()

                Expect.isTrue
                    (range.[0] < 0.0f && range.[1] > 0.0f)
                    $"the input range was learned: {range.[0]}..{range.[1]}"

                use int8 = Quantization.Convert qat
                Expect.equal int8.State.ModelState.["dense_1/kernel"].dtype torch.int8 "int8"
                expectClose "the converted model computes what training computed" 1e-4 (int8.Predict x) (qat.Predict x)
                use compiledAware = qat.Compile()
                use compiledInt8 = int8.Compile()

                expectClose
                    "the aware model compiles to the int8 graph it converts to (biases in float there)"
                    1e-4
                    (compiledAware.Predict x)
                    (compiledInt8.Predict x)

            testCase "the sensitivity report quantizes one layer at a time; skipped layers stay float"
            <| fun () ->
                let x, y = blobs ()
                use model = mlp () x y 4
                let report = Quantization.Sensitivity(model, x.narrow (0L, 0L, 128L), x, y)

                Expect.equal
                    (report.Layers |> Seq.map (fun l -> l.Path) |> Seq.toList)
                    [ "dense"; "dense_1"; "dense_2" ]
                    "a row per layer"

                Expect.equal report.Metric "accuracy" "the model's metric"
                Expect.stringContains (string report) "all int8" "a table"
                Expect.isEmpty (report.Losing 1.0) "nothing loses a whole point of accuracy"

                use partial =
                    Quantization.Static(model, x, QuantizationOptions(Skip = [| "dense_1" |]))

                Expect.equal
                    partial.State.Params.["dense_1/kernel"].dtype
                    torch.float32
                    "the skipped layer keeps float weights"

                Expect.equal partial.State.ModelState.["dense_2/kernel"].dtype torch.int8 "the others are int8"

            testCase "pruned weights stay zero in int8, and quantization takes the pruned model's plain optimizer"
            <| fun () ->
                let x, y = blobs ()

                use pruned =
                    new Model(
                        Sequential(Dense(32L, ActivationFunction.Relu), Dense(4L)),
                        [| 12L |],
                        Loss.SparseCategoricalCrossEntropy(true),
                        Pruning.Magnitude(Optimizer.Adam 1e-2, PruningSchedule.Constant 0.75)
                    )

                pruned.Fit(x, y, FitOptions(Epochs = 2, BatchSize = 64, Verbosity = Verbosity.Silent))
                |> ignore

                use int8 = Quantization.Static(pruned, x)
                let kernel = int8.State.ModelState.["dense/kernel"]

                Expect.equal
                    (kernel.eq(torch.tensor 0y).sum().item<int64>())
                    (12L * 32L * 3L / 4L)
                    "three quarters zero"

                Expect.isNull (Pruning.Masks int8.State.OptState) "no masks in the int8 model"

            testCase
                "a channel of near-zero weights beside a large bias keeps its bias in int32 (its weight scale is raised)"
            <| fun () ->
                let x, y = blobs ()
                use model = mlp () x y 2
                let kernel = model.State.Params.["dense/kernel"]
                let bias = model.State.Params.["dense/bias"]

                use _ = torch.no_grad ()
                kernel.select(1L, 0L).fill_(1e-9) |> ignore
                bias.[0L] <- torch.tensor 3.0f
                use int8 = Quantization.Static(model, x)
                use compiled = int8.Compile()
                let expected = int8.Predict x
                let span = expected.abs().max().item<float32>()

                Expect.isLessThan
                    ((compiled.Predict x - expected).abs().max().item<float32>())
                    (0.02f * span)
                    "no int32 overflow in the exported bias"

            testCase "a shared layer's calls are calibrated together"
            <| fun () ->
                scoped (fun () ->
                    let input = Graph.Input([| 3L |])
                    let shared = Dense(3L)
                    let network = FunctionalModel([ input ], [ shared.Call(shared.Call(input)) ])

                    use model =
                        new Model(network, [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1, seed = 2UL)

                    let x = torch.randn (64L, 3L)
                    use int8 = Quantization.Static(model, x)
                    let range = int8.State.ModelState.["dense/input_range"].data<float32>().ToArray()
                    // The second call reads the first call's output.
                    let struct (between, _) =
                        shared.Apply(
                            Variables(model.State.Params.Select "dense", TensorTree.Empty),
                            x,
                            ApplyContext.Inference
                        )

                    let low = min (x.min().item<float32>()) (between.min().item<float32>())
                    let high = max (x.max().item<float32>()) (between.max().item<float32>())
                    Expect.equal range.[0] low "the smaller of both calls' minima"
                    Expect.equal range.[1] high "the larger of both calls' maxima"

                    Expect.isTrue
                        (high > x.max().item<float32>() || low < x.min().item<float32>())
                        "the second call widens the range")

            testCase "bad uses are named"
            <| fun () ->
                let x, y = blobs ()
                use model = mlp () x y 1

                expectThrowsWith<ShapeException> [ "Calibration inputs"; "(batch, 12)" ] (fun () ->
                    use _ = Quantization.Static(model, torch.zeros (4L, 5L))
                    ())

                expectThrowsWith<ArgumentException> [ "no quantization-aware layer" ] (fun () ->
                    use _ = Quantization.Convert model
                    ())

                expectThrowsWith<NotSupportedException> [ "cannot be quantized" ] (fun () ->
                    QuantizedLayer(BatchNorm()) |> ignore)

                expectThrowsWith<NotSupportedException>
                    [ "static quantization takes Dense and convolutions" ]
                    (fun () -> QuantizedLayer(Lstm(3L)) |> ignore)

                use int8 = Quantization.Dynamic model

                expectThrowsWith<DtypeException> [ "quantized dense"; "floating-point" ] (fun () ->
                    int8.Predict(torch.zeros ([| 2L; 12L |], dtype = torch.int64)) |> ignore)

                expectThrowsWith<ShapeException> [ "(batch, 12)" ] (fun () ->
                    int8.Predict(torch.zeros (2L, 7L)) |> ignore)
        ]
