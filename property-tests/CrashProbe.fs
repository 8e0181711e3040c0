/// The crash probe: a table of bad inputs run in a child process (this test program started with
/// --crash-probe), so an abort or a segfault shows as an exit code instead of ending the tests.
/// Each case must end with exactly the documented exception type and a message naming the layer,
/// parameter or file; cases marked "none" must run (floating inputs of another dtype are cast).
module Functional.PropertyTests.CrashProbe

open System
open System.Diagnostics
open System.IO
open System.Text
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Persistence
open Functional.Training
open Functional.Trees

type Case =
    {
        Id: string
        Expected: string
        Fragments: string list
        Run: unit -> unit
    }

let private case id expected fragments run =
    {
        Id = id
        Expected = expected
        Fragments = fragments
        Run = run
    }

/// A layer under test: how to make it, a valid per-example shape, and the name errors must use.
type private Subject =
    {
        Key: string
        Make: unit -> ILayer
        Shape: int64[]
        Named: string
        HasParams: bool
        Ids: bool
    }

let private subjects =
    let s key make shape named hasParams =
        {
            Key = key
            Make = make
            Shape = shape
            Named = named
            HasParams = hasParams
            Ids = false
        }

    [
        s "dense" (fun () -> Dense(3L) :> ILayer) [| 4L |] "dense" true
        s "dense_no_bias" (fun () -> Dense(3L, useBias = false, name = "nobias") :> ILayer) [| 4L |] "nobias" true
        s "conv1d" (fun () -> Conv1D(2L, 3L) :> ILayer) [| 2L; 8L |] "conv1d" true
        s "conv2d" (fun () -> Conv2D(2L, 3L) :> ILayer) [| 1L; 6L; 6L |] "conv2d" true
        s "max_pool2d" (fun () -> MaxPool2D() :> ILayer) [| 1L; 4L; 4L |] "max_pool2d" false
        s "average_pool2d" (fun () -> AveragePool2D() :> ILayer) [| 1L; 4L; 4L |] "average_pool2d" false
        s "max_pool1d" (fun () -> MaxPool1D() :> ILayer) [| 2L; 6L |] "max_pool1d" false
        s "average_pool1d" (fun () -> AveragePool1D() :> ILayer) [| 2L; 6L |] "average_pool1d" false
        s "global_pool" (fun () -> GlobalPool(PoolKind.Average) :> ILayer) [| 2L; 4L; 4L |] "global_average_pool" false
        s "dropout" (fun () -> Dropout(0.5) :> ILayer) [| 4L |] "dropout" false
        s "activation" (fun () -> Activation(ActivationFunction.Tanh) :> ILayer) [| 4L |] "tanh" false
        s "batch_norm" (fun () -> BatchNorm() :> ILayer) [| 3L |] "batch_norm" true
        s "layer_norm" (fun () -> LayerNorm() :> ILayer) [| 2L; 3L |] "layer_norm" true
        { s "embedding" (fun () -> Embedding(5L, 3L) :> ILayer) [| 4L |] "embedding" true with
            Ids = true
        }
        s "lstm" (fun () -> Lstm(3L) :> ILayer) [| 5L; 4L |] "lstm" true
        s "gru" (fun () -> Gru(3L, returnSequences = true) :> ILayer) [| 5L; 4L |] "gru" true
        s "attention" (fun () -> MultiHeadAttention(2L, 2L, name = "attend") :> ILayer) [| 5L; 4L |] "attend" true
        s "conv2d_transpose" (fun () -> Conv2DTranspose(2L, 3L, 2L) :> ILayer) [| 2L; 4L; 4L |] "conv2d_transpose" true
        s "up_sampling2d" (fun () -> UpSampling2D() :> ILayer) [| 1L; 3L; 3L |] "up_sampling2d" false
        s "zero_padding2d" (fun () -> ZeroPadding2D() :> ILayer) [| 1L; 3L; 3L |] "zero_padding2d" false
        s "rescaling" (fun () -> Rescaling(0.5) :> ILayer) [| 4L |] "rescaling" false
        s "random_flip" (fun () -> RandomFlip() :> ILayer) [| 1L; 4L; 4L |] "random_flip" false
        s "random_rotation" (fun () -> RandomRotation(0.1) :> ILayer) [| 1L; 4L; 4L |] "random_rotation" false
        s "random_zoom" (fun () -> RandomZoom(0.1) :> ILayer) [| 1L; 4L; 4L |] "random_zoom" false
        s "random_translation" (fun () -> RandomTranslation(0.1) :> ILayer) [| 1L; 4L; 4L |] "random_translation" false
        s "random_contrast" (fun () -> RandomContrast(0.1) :> ILayer) [| 1L; 4L; 4L |] "random_contrast" false
        s "random_brightness" (fun () -> RandomBrightness(0.1) :> ILayer) [| 1L; 4L; 4L |] "random_brightness" false
        s "random_crop" (fun () -> RandomCrop(2L, 3L) :> ILayer) [| 1L; 4L; 4L |] "random_crop" false
        s "resizing" (fun () -> Resizing(2L, 3L) :> ILayer) [| 1L; 4L; 4L |] "resizing" false
        s "center_crop" (fun () -> CenterCrop(2L, 3L) :> ILayer) [| 1L; 4L; 4L |] "center_crop" false
        s
            "normalization"
            (fun () -> Normalization([| 0.0; 1.0; 2.0 |], [| 1.0; 1.0; 4.0 |]) :> ILayer)
            [| 3L |]
            "normalization"
            false
        s "simple_rnn" (fun () -> SimpleRnn(3L) :> ILayer) [| 5L; 4L |] "simple_rnn" true
        s
            "time_distributed"
            (fun () -> TimeDistributed(Dense(3L, name = "td"), name = "td") :> ILayer)
            [| 4L; 5L |]
            "td"
            true
        s "bidirectional" (fun () -> Bidirectional(Lstm(3L, name = "bi"), name = "bi") :> ILayer) [| 5L; 4L |] "bi" true
        s "residual" (fun () -> Residual(Dense(4L, name = "inner")) :> ILayer) [| 4L |] "inner" true
        s
            "quantized"
            (fun () ->
                Functional.ModelOptimization.QuantizedLayer(
                    Dense(3L, name = "q"),
                    Functional.ModelOptimization.ActivationQuantization.None
                )
                :> ILayer)
            [| 4L |]
            "q"
            false
        s
            "quantized_aware"
            (fun () ->
                Functional.ModelOptimization.QuantizedLayer(
                    Dense(3L, name = "qa"),
                    storage = Functional.ModelOptimization.WeightStorage.Float
                )
                :> ILayer)
            [| 4L |]
            "qa"
            true
        s
            "sequential"
            (fun () -> Sequential(Dense(4L, name = "first"), Dense(2L, name = "second")) :> ILayer)
            [| 4L |]
            "first"
            true
    ]

let private init (layer: ILayer) shape =
    use rng = new torch.Generator(1UL)
    layer.Init(rng, shape)

let private apply (layer: ILayer) (variables: Variables) (x: torch.Tensor) =
    let struct (y, _) = layer.Apply(variables, x, ApplyContext.Train 3UL)
    let struct (z, _) = layer.Apply(variables, x, ApplyContext.Inference)
    y, z

let private input (subject: Subject) (shape: int64[]) (dtype: torch.ScalarType) =
    let full = Array.append [| 2L |] shape

    if subject.Ids then
        torch.randint (0L, 5L, full, dtype = dtype)
    else
        torch.randn (full, dtype = dtype)

let private layerCases =
    [
        for subject in subjects do
            let k = subject.Key
            let named = $"'{subject.Named}'"

            if subject.Ids then
                yield
                    case $"{k}: floating ids" "DtypeException" [ named; "integer"; "Float32" ] (fun () ->
                        let layer = subject.Make()

                        apply layer (init layer subject.Shape) (torch.ones (Array.append [| 2L |] subject.Shape))
                        |> ignore)

                yield
                    case $"{k}: int32 ids" "none" [] (fun () ->
                        let layer = subject.Make()

                        apply layer (init layer subject.Shape) (input subject subject.Shape torch.int32)
                        |> ignore)
            else
                for dtype in [ torch.int64; torch.int32; torch.ScalarType.Bool ] do
                    yield
                        case $"{k}: {dtype} input" "DtypeException" [ named; "floating-point"; string dtype ] (fun () ->
                            let layer = subject.Make()

                            apply
                                layer
                                (init layer subject.Shape)
                                (torch.ones (Array.append [| 2L |] subject.Shape, dtype = dtype))
                            |> ignore)

                for dtype in [ torch.float64; torch.float16; torch.bfloat16 ] do
                    if subject.HasParams then
                        yield
                            case $"{k}: {dtype} input is cast to the variables' dtype" "none" [] (fun () ->
                                let layer = subject.Make()

                                let y, z =
                                    apply layer (init layer subject.Shape) (input subject subject.Shape dtype)

                                if y.dtype <> torch.float32 || z.dtype <> torch.float32 then
                                    failwithf "output is %O, not Float32" y.dtype)

            yield
                case $"{k}: a scalar input" "ShapeException" [ named ] (fun () ->
                    let layer = subject.Make()
                    apply layer (init layer subject.Shape) (torch.tensor 1.0f) |> ignore)
            // Layers that take any rank (pools aside) have no "one dimension short".
            if
                not (
                    k.Contains "pool"
                    || List.contains k [ "dropout"; "activation"; "rescaling"; "layer_norm"; "embedding" ]
                )
            then
                yield
                    case $"{k}: one dimension short" "ShapeException" [ named ] (fun () ->
                        let layer = subject.Make()

                        apply
                            layer
                            (init layer subject.Shape)
                            (input subject subject.Shape.[1..] (if subject.Ids then torch.int64 else torch.float32))
                        |> ignore)

            if subject.HasParams && not subject.Ids then
                yield
                    case $"{k}: wrong feature size" "ShapeException" [ named ] (fun () ->
                        let layer = subject.Make()
                        let wrong = Array.copy subject.Shape

                        let at =
                            if k = "batch_norm" || k.StartsWith "conv" then
                                0
                            else
                                wrong.Length - 1

                        wrong.[at] <- wrong.[at] + 1L

                        apply layer (init layer subject.Shape) (input subject wrong torch.float32)
                        |> ignore)

            yield
                case $"{k}: negative shape at Init" "ShapeException" [ "positive"; "(batch, -" ] (fun () ->
                    init (subject.Make()) (Array.map (fun d -> -d) subject.Shape) |> ignore)

            yield
                case $"{k}: zero-size shape at Init" "ShapeException" [ "positive"; "(batch, 0" ] (fun () ->
                    init (subject.Make()) (Array.map (fun _ -> 0L) subject.Shape) |> ignore)

            if subject.HasParams && k <> "embedding" then
                yield
                    case $"{k}: integer parameters" "DtypeException" [ "parameter"; "Int64" ] (fun () ->
                        let layer = subject.Make()
                        let v = init layer subject.Shape

                        apply
                            layer
                            (Variables(v.Params.Map(fun t -> t.to_type torch.int64), v.State))
                            (input subject subject.Shape torch.float32)
                        |> ignore)

                yield
                    case $"{k}: parameters of mixed dtypes" "DtypeException" [ "mixed dtypes" ] (fun () ->
                        let layer = subject.Make()
                        let v = init layer subject.Shape

                        let mixed =
                            v.Params.Map(fun path t ->
                                if path.EndsWith "bias" || path.EndsWith "offset" then
                                    t.to_type torch.float64
                                else
                                    t)

                        if mixed.Leaves |> Seq.forall (fun t -> t.dtype = torch.float32) then
                            raise (DtypeException "mixed dtypes: (no bias here)")

                        apply layer (Variables(mixed, v.State)) (input subject subject.Shape torch.float32)
                        |> ignore)
    ]

let private hugeCases =
    [
        case "dense: 10^12 units at Init" "ArgumentOutOfRangeException" [ "'dense'"; "memory" ] (fun () ->
            init (Dense(1_000_000_000_000L)) [| 3L |] |> ignore)
        case "dense: 10^12 features at Init" "ArgumentOutOfRangeException" [ "'dense'"; "memory" ] (fun () ->
            init (Dense(4L)) [| 1_000_000_000_000L |] |> ignore)
        case "embedding: 10^13 rows at Init" "ArgumentOutOfRangeException" [ "'embedding'"; "memory" ] (fun () ->
            init (Embedding(10_000_000_000_000L, 8L)) [| 2L |] |> ignore)
        case "conv2d: 10^9 filters at Init" "ArgumentOutOfRangeException" [ "'conv2d'" ] (fun () ->
            init (Conv2D(1_000_000_000L, 3L)) [| 1_000L; 8L; 8L |] |> ignore)
        case "lstm: 10^10 units at Init" "ArgumentOutOfRangeException" [ "'lstm'" ] (fun () ->
            init (Lstm(10_000_000_000L)) [| 3L; 4L |] |> ignore)
        case "model: negative input shape" "ShapeException" [ "positive"; "(batch, -4)" ] (fun () ->
            new Model(Dense(3L), [| -4L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)
            |> ignore)
        case "graph: negative input shape" "ShapeException" [ "positive" ] (fun () ->
            Graph.Input [| 3L; -1L |] |> ignore)
        case "dense: -1 units" "ArgumentOutOfRangeException" [ "units" ] (fun () -> Dense(-1L) |> ignore)
        case
            "attention: key and value of different lengths"
            "ShapeException"
            [ "'attend'"; "key and value of one length" ]
            (fun () ->
                let layer = MultiHeadAttention(2L, 2L, name = "attend")
                let v = init layer [| 5L; 4L |]

                layer.Attend(v.Params, torch.randn (2L, 5L, 4L), torch.randn (2L, 6L, 4L), torch.randn (2L, 7L, 4L))
                |> ignore)
        case "attention: a float mask" "ShapeException" [ "'attend'"; "boolean mask" ] (fun () ->
            let layer = MultiHeadAttention(2L, 2L, name = "attend")
            let v = init layer [| 5L; 4L |]
            let x = torch.randn (2L, 5L, 4L)
            layer.Attend(v.Params, x, x, x, torch.ones (5L, 5L)) |> ignore)
        case "attention: float64 query, key and value" "none" [] (fun () ->
            let layer = MultiHeadAttention(2L, 2L)
            let v = init layer [| 5L; 4L |]
            let x = torch.randn (2L, 5L, 4L, dtype = torch.float64)

            layer.Attend(v.Params, x, x, torch.randn (2L, 5L, 4L, dtype = torch.float16))
            |> ignore)
        case "dropout: training without a key" "ArgumentException" [ "'dropout'"; "key" ] (fun () ->
            Dropout(0.5).Apply(Variables.None, torch.ones (2L, 3L), ApplyContext(true))
            |> ignore)
        case "batch_norm: a batch of one in inference" "none" [] (fun () ->
            let layer = BatchNorm()

            layer.Apply(init layer [| 3L |], torch.ones (1L, 3L), ApplyContext.Inference)
            |> ignore)
        case
            "batch_norm: a batch of one in training"
            "ShapeException"
            [ "'batch_norm'"; "more than one value" ]
            (fun () ->
                let layer = BatchNorm()

                layer.Apply(init layer [| 3L |], torch.ones (1L, 3L), ApplyContext.Train 0UL)
                |> ignore)
    ]

let private logits () = torch.randn (4L, 3L)

let private lossCases =
    let sparse = Loss.SparseCategoricalCrossEntropy(true)
    let labels (xs: int64 list) = torch.tensor (Array.ofList xs)

    [
        for label in [ -1L; 3L; -100L; Int64.MaxValue ] do
            yield
                case
                    $"sparse cross-entropy: label {label}"
                    "ArgumentOutOfRangeException"
                    [ "sparse_categorical_cross_entropy"; "[0, 3)" ]
                    (fun () -> sparse.Invoke(logits (), labels [ 0L; 1L; label; 2L ]) |> ignore)
        yield
            case
                "sparse cross-entropy: float labels"
                "ArgumentException"
                [ "sparse_categorical_cross_entropy"; "integers" ]
                (fun () -> sparse.Invoke(logits (), torch.zeros (4L)) |> ignore)
        yield
            case "sparse cross-entropy: int32 labels" "none" [] (fun () ->
                sparse.Invoke(logits (), torch.zeros (4L, dtype = torch.int32)) |> ignore)
        yield
            case
                "sparse cross-entropy: labels of another length"
                "ArgumentException"
                [ "sparse_categorical_cross_entropy"; "4 examples" ]
                (fun () -> sparse.Invoke(logits (), labels [ 0L; 1L ]) |> ignore)
        yield
            case "sparse cross-entropy: ignoreIndex -100 is left out of the mean" "none" [] (fun () ->
                let loss = Loss.SparseCategoricalCrossEntropy(true, ignoreIndex = -100L)
                let p = logits ()
                let mean = loss.Invoke(p, labels [ 0L; -100L; -100L; 2L ]).item<float32>()

                let expected =
                    Loss
                        .SparseCategoricalCrossEntropy(true)
                        .Invoke(p.index_select (0L, labels [ 0L; 3L ]), labels [ 0L; 2L ])
                        .item<float32>()

                if abs (mean - expected) > 1e-6f then
                    failwithf "mean %f, expected %f" mean expected)
        for loss in
            [
                Loss.MeanSquaredError
                Loss.MeanAbsoluteError
                Loss.Huber()
                Loss.BinaryCrossEntropy(true)
                Loss.CategoricalCrossEntropy(true)
                Loss.KLDivergence
            ] do
            yield
                case $"{loss.Name}: targets of another shape" "ArgumentException" [ loss.Name; "shape" ] (fun () ->
                    loss.Invoke(logits (), torch.zeros (4L, 2L)) |> ignore)

            yield
                case $"{loss.Name}: float64 targets" "none" [] (fun () ->
                    let value = loss.Invoke(logits (), torch.rand (4L, 3L, dtype = torch.float64))

                    if value.dtype <> torch.float32 then
                        failwithf "loss is %O" value.dtype)

            yield
                case $"{loss.Name}: a scalar prediction" "ArgumentException" [ loss.Name; "scalar" ] (fun () ->
                    loss.Invoke(torch.tensor 1.0f, torch.tensor 1.0f) |> ignore)
    ]

let private hyperparameterCases =
    let bad id (name: string) (make: unit -> obj) =
        case id "ArgumentOutOfRangeException" [ name ] (fun () -> make () |> ignore)

    [
        bad "Adam(-0.01)" "learningRate" (fun () -> box (Optimizer.Adam -0.01))
        bad "Adam(NaN)" "learningRate" (fun () -> box (Optimizer.Adam nan))
        bad "Adam(infinity)" "learningRate" (fun () -> box (Optimizer.Adam infinity))
        bad "Adam(beta1: -0.5)" "beta1" (fun () -> box (Optimizer.Adam(1e-3, beta1 = -0.5)))
        bad "Adam(beta2: 1)" "beta2" (fun () -> box (Optimizer.Adam(1e-3, beta2 = 1.0)))
        bad "Adam(epsilon: -1)" "epsilon" (fun () -> box (Optimizer.Adam(1e-3, epsilon = -1.0)))
        bad "Sgd(-1)" "learningRate" (fun () -> box (Optimizer.Sgd -1.0))
        bad "Sgd(momentum: 2)" "momentum" (fun () -> box (Optimizer.Sgd(0.1, momentum = 2.0)))
        bad "Sgd(momentum: NaN)" "momentum" (fun () -> box (Optimizer.Sgd(0.1, momentum = nan)))
        bad "Sgd(nesterov without momentum)" "momentum" (fun () -> box (Optimizer.Sgd(0.1, nesterov = true)))
        bad "AdamW(weightDecay: -1)" "weightDecay" (fun () -> box (Optimizer.AdamW(1e-3, weightDecay = -1.0)))
        bad "RmsProp(decay: 1)" "decay" (fun () -> box (Optimizer.RmsProp(1e-3, decay = 1.0)))
        bad "RmsProp(NaN)" "learningRate" (fun () -> box (Optimizer.RmsProp nan))
        bad "Adagrad(initialAccumulator: -1)" "initialAccumulator" (fun () ->
            box (Optimizer.Adagrad(1e-2, initialAccumulator = -1.0)))
        bad "ClipByGlobalNorm(0)" "maxNorm" (fun () -> box (Transform.ClipByGlobalNorm 0.0))
        bad "ClipByValue(NaN)" "maxAbs" (fun () -> box (Transform.ClipByValue nan))
        bad "Scale(infinity)" "factor" (fun () -> box (Transform.Scale infinity))
        bad "Schedules.Constant(-1)" "value" (fun () -> box (Schedules.Constant -1.0))
        bad "Schedules.Step(stepSize: 0)" "stepSize" (fun () -> box (Schedules.Step(0.1, 0L, 0.5)))
        bad "Schedules.Exponential(rate: -1)" "rate" (fun () -> box (Schedules.Exponential(0.1, 10L, -1.0)))
        bad "Schedules.Cosine(alpha: 2)" "alpha" (fun () -> box (Schedules.Cosine(0.1, 10L, 2.0)))
        bad "Schedules.Linear(steps: 0)" "steps" (fun () -> box (Schedules.Linear(0.1, 0.0, 0L)))
        bad "Schedules.WarmupCosine(total below warmup)" "totalSteps" (fun () ->
            box (Schedules.WarmupCosine(0.1, 10L, 5L)))
        bad "FitOptions(Epochs: 0)" "Epochs" (fun () -> box (FitOptions(Epochs = 0)))
        bad "FitOptions(BatchSize: 0)" "BatchSize" (fun () -> box (FitOptions(BatchSize = 0)))
        bad "FitOptions(InitialEpoch: -1)" "InitialEpoch" (fun () -> box (FitOptions(InitialEpoch = -1)))
        bad "FitOptions(ValidationSplit: -1)" "ValidationSplit" (fun () -> box (FitOptions(ValidationSplit = -1.0)))
        bad "FitOptions(ValidationSplit: NaN)" "ValidationSplit" (fun () -> box (FitOptions(ValidationSplit = nan)))
        bad "FitOptions(ValidationSplit: 1)" "ValidationSplit" (fun () -> box (FitOptions(ValidationSplit = 1.0)))
        bad "FitOptions(ClassWeights: {-1: 2})" "ClassWeights" (fun () ->
            box (FitOptions(ClassWeights = readOnlyDict [ -1L, 2.0 ])))
        bad "FitOptions(ClassWeights: {0: NaN})" "ClassWeights" (fun () ->
            box (FitOptions(ClassWeights = readOnlyDict [ 0L, nan ])))
    ]

let private classifier () =
    new Model(
        Sequential(Dense(3L, name = "scores")),
        [| 2L |],
        Loss.SparseCategoricalCrossEntropy(true),
        Optimizer.Adam 1e-2,
        seed = 1UL
    )

let private quiet =
    FitOptions(Verbosity = Verbosity.Silent, Epochs = 1, BatchSize = 4)

let private modelCases =
    let x, y =
        (fun () -> torch.randn (8L, 2L)), (fun () -> torch.randint (0L, 3L, [| 8L |]))

    [
        yield
            case "Compile: inputs of another shape" "ShapeException" [ "(batch, 2)"; "(8, 3)" ] (fun () ->
                use model = classifier ()
                use compiled = Functional.Compilation.ModelCompilation.Compile model
                compiled.Predict(torch.randn (8L, 3L)) |> ignore)
        yield
            case "Compile: boolean inputs" "DtypeException" [ "real-valued"; "Bool" ] (fun () ->
                use model = classifier ()
                use compiled = Functional.Compilation.ModelCompilation.Compile model
                compiled.Predict((torch.randn (8L, 2L)).gt(torch.tensor 0.0f)) |> ignore)
        yield
            case
                "Fit: class weight for class 7 of 3"
                "ArgumentOutOfRangeException"
                [ "ClassWeights"; "7"; "3" ]
                (fun () ->
                    use model = classifier ()

                    model.Fit(
                        x (),
                        y (),
                        FitOptions(
                            Verbosity = Verbosity.Silent,
                            BatchSize = 4,
                            ClassWeights = readOnlyDict [ 7L, 2.0 ]
                        )
                    )
                    |> ignore)
        yield
            case "Fit: no rows" "ArgumentException" [ "no examples" ] (fun () ->
                use model = classifier ()

                model.Fit(torch.zeros (0L, 2L), torch.zeros (0L, dtype = torch.int64), quiet)
                |> ignore)
        yield
            case "Fit: rows differ" "ShapeException" [ "same number of examples" ] (fun () ->
                use model = classifier ()
                model.Fit(x (), torch.zeros (5L, dtype = torch.int64), quiet) |> ignore)
        yield
            case "Fit: sample weights of another length" "ShapeException" [ "sample weights"; "(3)" ] (fun () ->
                use model = classifier ()

                model.Fit(
                    LabeledData(torch.randn (8L, 2L), torch.zeros (8L, dtype = torch.int64), torch.ones 3L),
                    quiet
                )
                |> ignore)
        yield
            case
                "Fit: sample weights as a matrix"
                "ShapeException"
                [ "sample weights need shape (examples)" ]
                (fun () ->
                    use model = classifier ()

                    model.Fit(
                        LabeledData(torch.randn (8L, 2L), torch.zeros (8L, dtype = torch.int64), torch.ones (8L, 2L)),
                        quiet
                    )
                    |> ignore)
        yield
            case "named model: a missing input leaf" "ArgumentException" [ "no leaf 'b'" ] (fun () ->
                let a, b = Graph.Input([| 2L |], "a"), Graph.Input([| 2L |], "b")

                let network =
                    FunctionalModel([ a; b ], [ Dense(1L, name = "y").Call(Graph.Add(a, b)) ])

                use model =
                    new Model(network, readOnlyDict [ "y", OutputLoss(Loss.MeanSquaredError) ], Optimizer.Sgd 0.1)

                let inputs = TensorTree.Of(struct ("a", torch.randn (4L, 2L)))

                model.Fit(LabeledData(inputs, TensorTree.Of(struct ("y", torch.randn (4L, 1L)))), quiet)
                |> ignore)
        yield
            case "named model: a misshapen input" "ShapeException" [ "input 'b'"; "(batch, 2)" ] (fun () ->
                let a, b = Graph.Input([| 2L |], "a"), Graph.Input([| 2L |], "b")

                let network =
                    FunctionalModel([ a; b ], [ Dense(1L, name = "y").Call(Graph.Add(a, b)) ])

                use model =
                    new Model(network, readOnlyDict [ "y", OutputLoss(Loss.MeanSquaredError) ], Optimizer.Sgd 0.1)

                let inputs =
                    TensorTree.Of(struct ("a", torch.randn (4L, 2L)), struct ("b", torch.randn (4L, 3L)))

                model.Predict(inputs) |> ignore)
        yield
            case "Fit: ValidationSplit leaves nothing to validate" "ArgumentException" [ "ValidationSplit" ] (fun () ->
                use model = classifier ()

                model.Fit(
                    torch.randn (3L, 2L),
                    torch.zeros (3L, dtype = torch.int64),
                    FitOptions(Verbosity = Verbosity.Silent, BatchSize = 4, ValidationSplit = 0.2)
                )
                |> ignore)
        yield
            case "Fit: InitialEpoch at Epochs" "ArgumentOutOfRangeException" [ "InitialEpoch" ] (fun () ->
                use model = classifier ()

                model.Fit(x (), y (), FitOptions(Verbosity = Verbosity.Silent, Epochs = 2, InitialEpoch = 2))
                |> ignore)
        yield
            case "Fit: int32 labels" "none" [] (fun () ->
                use model = classifier ()
                model.Fit(x (), y().to_type torch.int32, quiet) |> ignore)
        yield
            case "Fit: float64 inputs" "none" [] (fun () ->
                use model = classifier ()
                model.Fit(x().to_type torch.float64, y (), quiet) |> ignore)
        yield
            case "Fit: float64 regression targets" "none" [] (fun () ->
                use model = new Model(Dense(1L), [| 2L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)
                model.Fit(x (), torch.randn (8L, 1L, dtype = torch.float64), quiet) |> ignore)
        yield
            case "Fit: label 5 of 3 classes" "ArgumentOutOfRangeException" [ "[0, 3)"; "5" ] (fun () ->
                use model = classifier ()

                model.Fit(x (), torch.full ([| 8L |], Scalar.op_Implicit 5L, dtype = torch.int64), quiet)
                |> ignore)
        yield
            case "Predict: wrong input shape" "ShapeException" [ "'sequential'"; "(batch, 2)"; "(4, 3)" ] (fun () ->
                use model = classifier ()
                model.Predict(torch.randn (4L, 3L)) |> ignore)
        yield
            case "Predict: batchSize 0" "ArgumentOutOfRangeException" [ "batchSize" ] (fun () ->
                use model = classifier ()
                model.Predict(torch.randn (4L, 2L), 0) |> ignore)
        for operation, run in
            [
                "Predict", (fun (m: Model) -> m.Predict(torch.randn (4L, 2L)) |> ignore)
                "Evaluate",
                (fun (m: Model) ->
                    m.Evaluate(torch.randn (4L, 2L), torch.zeros (4L, dtype = torch.int64))
                    |> ignore)
                "Fit",
                (fun (m: Model) ->
                    m.Fit(torch.randn (4L, 2L), torch.zeros (4L, dtype = torch.int64), quiet)
                    |> ignore)
                "TrainStep",
                (fun (m: Model) ->
                    m.TrainStep(m.State, torch.randn (4L, 2L), torch.zeros (4L, dtype = torch.int64))
                    |> ignore)
                "Save",
                (fun (m: Model) -> ModelFile.Save(Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}"), m))
            ] do
            yield
                case $"{operation} after Dispose" "ObjectDisposedException" [ "'sequential'"; "disposed" ] (fun () ->
                    let model = classifier ()
                    model.Dispose()
                    run model)
    ]

/// A saved model whose description was edited by edit, in the layout before manifests.
let private editedModel (edit: string -> string) =
    let folder = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}")
    Directory.CreateDirectory folder |> ignore

    use model =
        new Model(Sequential(Dense(2L)), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)

    ModelFile.Save(folder, model)

    let part name =
        Directory.GetFiles(folder, name + ".*") |> Array.exactlyOne

    let description, state = part "model", part "state"
    File.WriteAllText(Path.Combine(folder, "model.json"), edit (File.ReadAllText description))
    File.Move(state, Path.Combine(folder, "state.safetensors"))
    File.Delete description
    File.Delete(Path.Combine(folder, SavedFolder.ManifestName))
    folder

let private safetensorsWith (header: string) =
    let path = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}.safetensors")
    let json = Encoding.UTF8.GetBytes header
    File.WriteAllBytes(path, Array.concat [ BitConverter.GetBytes(uint64 json.Length); json; Array.zeroCreate 16 ])
    path

let private fileCases =
    [
        case "model.json: units 10^12" "InvalidDataException" [ "cannot be built"; "'dense'"; "memory" ] (fun () ->
            ModelFile.Load(editedModel (fun t -> t.Replace("\"units\": 2", "\"units\": 1000000000000")))
            |> ignore)
        case "model.json: units 25,000,000" "InvalidDataException" [ "within" ] (fun () ->
            ModelFile.Load(editedModel (fun t -> t.Replace("\"units\": 2", "\"units\": 25000000")))
            |> ignore)
        case "model.json: units -3" "InvalidDataException" [ "model.json"; "units" ] (fun () ->
            ModelFile.Load(editedModel (fun t -> t.Replace("\"units\": 2", "\"units\": -3")))
            |> ignore)
        case "model.json: input_shape -1" "InvalidDataException" [ "model.json"; "input_shape" ] (fun () ->
            ModelFile.Load(
                editedModel (fun t -> t.Replace("\"input_shape\": [\n    3\n  ]", "\"input_shape\": [ -1 ]"))
            )
            |> ignore)
        case "model.json: a duplicate key" "InvalidDataException" [ "model.json" ] (fun () ->
            ModelFile.Load(
                editedModel (fun t ->
                    t.Replace("\"format_version\": 1", "\"format_version\": 1, \"format_version\": 1"))
            )
            |> ignore)
        case "model.json: invalid UTF-8" "InvalidDataException" [ "model.json" ] (fun () ->
            let folder = editedModel id
            let path = Path.Combine(folder, "model.json")

            File.WriteAllBytes(
                path,
                Array.append (File.ReadAllBytes path |> Array.take 20) [| 0xC3uy; 0x28uy; 0xFFuy |]
            )

            ModelFile.Load folder |> ignore)
        case
            "safetensors: element count times size overflows"
            "InvalidDataException"
            [ ".safetensors"; "too large" ]
            (fun () ->
                SafeTensors.Load(
                    safetensorsWith """{"w":{"dtype":"F64","shape":[2305843009213693952,2],"data_offsets":[0,16]}}"""
                )
                |> ignore)
        case "safetensors: a negative dimension" "InvalidDataException" [ ".safetensors"; "negative" ] (fun () ->
            SafeTensors.Load(safetensorsWith """{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}""")
            |> ignore)
        case "safetensors: data flipped after saving" "InvalidDataException" [ ".safetensors"; "checksum" ] (fun () ->
            let path = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}.safetensors")
            SafeTensors.Save(path, TensorTree.Of(struct ("w", torch.ones (8L))))
            let bytes = File.ReadAllBytes path
            bytes.[bytes.Length - 3] <- bytes.[bytes.Length - 3] ^^^ 0x10uy
            File.WriteAllBytes(path, bytes)
            SafeTensors.Load path |> ignore)
        case "saved model: a weights byte flipped" "InvalidDataException" [ "state."; "damaged" ] (fun () ->
            let folder = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}")
            use model = classifier ()
            ModelFile.Save(folder, model)
            let state = Directory.GetFiles(folder, "state.*") |> Array.exactlyOne
            let bytes = File.ReadAllBytes state
            bytes.[bytes.Length - 5] <- bytes.[bytes.Length - 5] ^^^ 0x01uy
            File.WriteAllBytes(state, bytes)
            ModelFile.Load folder |> ignore)
        case "saved model: a missing weights file" "InvalidDataException" [ "manifest.json"; "missing" ] (fun () ->
            let folder = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}")
            use model = classifier ()
            ModelFile.Save(folder, model)
            File.Delete(Directory.GetFiles(folder, "state.*") |> Array.exactlyOne)
            ModelFile.Load folder |> ignore)
    ]

let private csvFile (text: string) =
    let path = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}.csv")
    File.WriteAllText(path, text)
    path

let private readCsv (path: string) =
    for b in Functional.Streams.DataStream.CsvBatches(path).Enumerate() do
        b.Dispose()

let private csvCases =
    [
        case "csv: an empty file" "InvalidDataException" [ ".csv"; "CSV" ] (fun () -> readCsv (csvFile ""))
        case "csv: a 50 MB header line" "InvalidDataException" [ ".csv"; "CSV" ] (fun () ->
            readCsv (csvFile (String('x', 50_000_000) + "\n1\n")))
        case "csv: a 50 MB value" "InvalidDataException" [ ".csv"; "too large" ] (fun () ->
            readCsv (csvFile ("a,b\n1," + String('7', 50_000_000) + "\n")))
        case "csv: a row with too many fields" "InvalidDataException" [ ".csv"; "line 3"; "3 fields" ] (fun () ->
            readCsv (csvFile "a,b\n1,2\n3,4,5\n"))
        case "parquet: not a Parquet file" "InvalidDataException" [ ".parquet"; "Parquet" ] (fun () ->
            let path = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}.parquet")
            File.WriteAllText(path, "PAR1 this is not really parquet PAR1")

            for b in Functional.Streams.ParquetStreams.ParquetBatches(path, readAhead = 0).Enumerate() do
                b.Dispose())
        case "arrow: not an Arrow file" "InvalidDataException" [ ".arrow" ] (fun () ->
            let path = Path.Combine(Path.GetTempPath(), $"probe-{Guid.NewGuid():N}.arrow")
            File.WriteAllText(path, "ARROW1 nothing here ARROW1")

            for b in Functional.Streams.Sources.ArrowIpcFile.Read path do
                b.Dispose())
    ]

let private pytorchFixture name =
    Path.Combine(AppContext.BaseDirectory, "fixtures", "pytorch", name)

/// Loads a PyTorch checkpoint into a fresh network (per-example shape inputShape).
let private loadPretrained (network: ILayer) (inputShape: int64[]) (file: string) =
    use rng = new torch.Generator(1UL)
    let v = network.Init(rng, inputShape)

    Functional.Pretrained.PretrainedWeights.Load(Functional.Pretrained.Checkpoint.Open file, network, inputShape, v)
    |> ignore

/// Checkpoints whose tensors do not fit the network: the conversions (transposes, sums, gate
/// splits) must refuse in words before libtorch sees mismatched shapes.
let private pretrainedCases =
    let mlp = pytorchFixture "model_mlp.pt"

    [
        case
            "pretrained: a Linear's weight for a Conv2D"
            "InvalidDataException"
            [ "model_mlp.pt"; "module '0'" ]
            (fun () -> loadPretrained (Sequential(Conv2D(8L, 3L), Flatten(), Dense(2L))) [| 4L; 5L; 5L |] mlp)
        case "pretrained: Linear weights for an LSTM" "InvalidDataException" [ "model_mlp.pt"; "module '0'" ] (fun () ->
            loadPretrained (Sequential(Lstm(8L), Dense(2L))) [| 3L; 4L |] mlp)
        case "pretrained: an LSTM's for a GRU" "InvalidDataException" [ "model_lstm.pt"; "module 'rnn'" ] (fun () ->
            loadPretrained (Sequential(Embedding(7L, 3L), Gru(4L))) [| 5L |] (pytorchFixture "model_lstm.pt"))
        case
            "pretrained: Dense of the wrong width"
            "InvalidDataException"
            [ "model_mlp.pt"; "(4, 8)"; "(4, 9)" ]
            (fun () -> loadPretrained (Sequential(Dense(9L), Dense(2L))) [| 4L |] mlp)
        case "pretrained: a legacy torch.save file" "InvalidDataException" [ "legacy.pt"; "legacy" ] (fun () ->
            loadPretrained (Sequential(Dense(8L), Dense(2L))) [| 4L |] (pytorchFixture "legacy.pt"))
    ]

/// Pruning, quantization and distillation: bad arguments and inputs to their entry points and to
/// the models they make (eager and compiled).
let private optimizationCases =
    let trained () =
        let model = classifier ()

        model.Fit(torch.randn (16L, 2L), torch.randint (0L, 3L, [| 16L |]), quiet)
        |> ignore

        model

    let int8 () =
        use model = trained ()
        Functional.ModelOptimization.Quantization.Static(model, torch.randn (16L, 2L))

    let q (x, scale, zeroPoint, min, max, axis: Nullable<int>) =
        Functional.ModelOptimization.AffineQuantizer.FakeQuantize(x, scale, zeroPoint, min, max, axis)

    [
        case
            "Quantization.Static: calibration inputs of another shape"
            "ShapeException"
            [ "Calibration inputs"; "(batch, 2)"; "(4, 5)" ]
            (fun () ->
                use model = trained ()

                Functional.ModelOptimization.Quantization.Static(model, torch.randn (4L, 5L))
                |> ignore)
        case
            "Quantization.Static: int64 calibration inputs"
            "DtypeException"
            [ "'scores'"; "floating-point"; "Int64" ]
            (fun () ->
                use model = trained ()

                Functional.ModelOptimization.Quantization.Static(model, torch.ones ([| 4L; 2L |], dtype = torch.int64))
                |> ignore)
        case "Quantization.Static: no calibration example" "ArgumentException" [ "at least one example" ] (fun () ->
            use model = trained ()

            Functional.ModelOptimization.Quantization.Static(model, torch.zeros (0L, 2L))
            |> ignore)
        case "int8 model: inputs of another shape" "ShapeException" [ "(batch, 2)" ] (fun () ->
            use model = int8 ()
            model.Predict(torch.randn (8L, 3L)) |> ignore)
        case "int8 model: boolean inputs" "DtypeException" [ "quantized dense"; "Bool" ] (fun () ->
            use model = int8 ()
            model.Predict(torch.randn(8L, 2L).gt(torch.tensor 0.0f)) |> ignore)
        case "compiled int8 model: inputs of another shape" "ShapeException" [ "(batch, 2)"; "(8, 3)" ] (fun () ->
            use model = int8 ()
            use compiled = Functional.Compilation.ModelCompilation.Compile model
            compiled.Predict(torch.randn (8L, 3L)) |> ignore)
        case "int8 layer: a kernel without its scale" "ShapeException" [ "'dense'"; "kernel_scale" ] (fun () ->
            let layer =
                Functional.ModelOptimization.QuantizedLayer(
                    Dense(3L),
                    Functional.ModelOptimization.ActivationQuantization.None
                )

            let state =
                TensorTree.Of(("kernel", torch.zeros ([| 2L; 3L |], dtype = torch.int8)), ("bias", torch.zeros 3L))

            layer.Apply(Variables(TensorTree.Empty, state), torch.randn (4L, 2L), ApplyContext.Inference)
            |> ignore)
        case
            "FakeQuantize: a scale per slice of the wrong length"
            "ArgumentException"
            [ "scale"; "(5)"; "(4, 3)" ]
            (fun () ->
                q (torch.randn (4L, 3L), torch.ones 5L, torch.zeros 5L, 0, 255, Nullable 1)
                |> ignore)
        case "FakeQuantize: an empty integer range" "ArgumentOutOfRangeException" [ "[3, 3]" ] (fun () ->
            q (torch.randn 4L, torch.tensor 1.0f, torch.tensor 0.0f, 3, 3, Nullable())
            |> ignore)
        case "FakeQuantize: integer values" "ArgumentException" [ "floating-point"; "Int64" ] (fun () ->
            q (torch.ones ([| 4L |], dtype = torch.int64), torch.tensor 1.0f, torch.tensor 0.0f, 0, 255, Nullable())
            |> ignore)
        case
            "WeightScale: an axis the weights do not have"
            "ArgumentOutOfRangeException"
            [ "axis"; "(4, 3)" ]
            (fun () ->
                Functional.ModelOptimization.AffineQuantizer.WeightScale(torch.randn (4L, 3L), Nullable 2)
                |> ignore)
        case "pruning: sparsity 1" "ArgumentOutOfRangeException" [ "[0, 1)" ] (fun () ->
            Functional.ModelOptimization.PruningSchedule.Constant 1.0 |> ignore)
        case "pruning: nothing prunable" "ArgumentException" [ "No parameter is prunable" ] (fun () ->
            use _ =
                new Model(
                    Sequential(Dense(3L)),
                    [| 2L |],
                    Loss.SparseCategoricalCrossEntropy(true),
                    Functional.ModelOptimization.Pruning.Magnitude(
                        Optimizer.Adam 1e-2,
                        Functional.ModelOptimization.PruningSchedule.Constant 0.5,
                        Functional.ModelOptimization.PruningOptions(Prunable = fun _ -> false)
                    )
                )

            ())
        case "Shrink: a model that does not prune" "ArgumentException" [ "does not prune" ] (fun () ->
            use model = trained ()
            Functional.ModelOptimization.Pruning.Shrink model |> ignore)
        case
            "Convert: a model that is not quantization-aware"
            "ArgumentException"
            [ "no quantization-aware layer" ]
            (fun () ->
                use model = trained ()
                Functional.ModelOptimization.Quantization.Convert model |> ignore)
        case "Distiller: temperature 0" "ArgumentOutOfRangeException" [ "temperature" ] (fun () ->
            use teacher = trained ()
            Functional.ModelOptimization.Distiller(teacher, 0.0) |> ignore)
        case "Distiller: a student of another output shape" "ShapeException" [ "teacher"; "(4)"; "(3)" ] (fun () ->
            use teacher = trained ()

            Functional.ModelOptimization
                .Distiller(teacher)
                .Student(
                    Sequential(Dense(4L)),
                    [| 2L |],
                    Loss.SparseCategoricalCrossEntropy(true),
                    Optimizer.Adam 1e-2
                )
            |> ignore)
    ]

/// Collectives in a job of one rank (the checks are the same on every rank), and the batch share
/// Dropout slices its mask with.
let private distributedCases =
    let world = Functional.Distributed.Communicator.World
    let sum = Functional.Distributed.ReduceOp.Sum

    [
        case
            "AllReduceInPlace: a non-contiguous tensor"
            "ArgumentException"
            [ "not contiguous"; "contiguous()" ]
            (fun () -> world.AllReduceInPlace(torch.ones(3L, 4L).t(), sum))
        case "AllReduceInPlace: Mean of int64" "ArgumentException" [ "Mean needs a floating tensor" ] (fun () ->
            world.AllReduceInPlace(torch.ones (3L, dtype = torch.int64), Functional.Distributed.ReduceOp.Mean))
        case "AllReduceInPlace: float16 in place" "ArgumentException" [ "Float16"; "reduced copy" ] (fun () ->
            world.AllReduceInPlace(torch.ones (3L, dtype = torch.float16), sum))
        case "AllReduceInPlace: a tree leaf of bool, named" "ArgumentException" [ "leaf 'mask'"; "Bool" ] (fun () ->
            world.AllReduceInPlace(TensorTree.Of(struct ("mask", torch.ones (3L, dtype = torch.ScalarType.Bool))), sum))
        case "AllReduce: a bool or float16 tree comes back reduced, its dtypes kept" "none" [] (fun () ->
            use tree =
                TensorTree.Of(
                    struct ("mask", torch.ones (3L, dtype = torch.ScalarType.Bool)),
                    struct ("h", torch.ones(4L, 2L, dtype = torch.float16).t())
                )

            world.AllReduce(tree, sum).Dispose())
        case
            "BroadcastInPlace: a non-contiguous leaf, named"
            "ArgumentException"
            [ "leaf 'w'"; "not contiguous" ]
            (fun () -> world.BroadcastInPlace(TensorTree.Of(struct ("w", torch.ones(3L, 4L).t()))))
        case "Broadcast: a root that is no rank" "ArgumentOutOfRangeException" [ "root"; "0 to 0" ] (fun () ->
            world.Broadcast(TensorTree.Of(struct ("w", torch.ones 3L)), 5).Dispose())
        case "Broadcast of numbers: a negative root" "ArgumentOutOfRangeException" [ "root" ] (fun () ->
            world.Broadcast([| 1L |], -1) |> ignore)
        case "AllReduce of int64 numbers: Mean" "ArgumentException" [ "Mean needs floating values" ] (fun () ->
            world.AllReduce([| 1L |], Functional.Distributed.ReduceOp.Mean) |> ignore)
        case
            "BatchShare: rows beyond the global batch"
            "ArgumentOutOfRangeException"
            [ "offset 8, rows 4, global rows 10" ]
            (fun () -> BatchShare(8L, 4L, 10L) |> ignore)
        case "BatchShare.Of: a rank outside the ranks" "ArgumentOutOfRangeException" [ "rank 3 of 2" ] (fun () ->
            BatchShare.Of(3, 2, 10L) |> ignore)
        case "Dropout: a share of another batch size is not used" "none" [] (fun () ->
            let context = ApplyContext(true, RandomKey(1UL), Share = BatchShare(0L, 3L, 6L))
            Dropout(0.5).Apply(Variables.None, torch.ones (5L, 2L), context) |> ignore)
    ]

/// Image operations and augmentation: every path into interpolate, affine_grid and grid_sample is checked first.
let private imageCases =
    let augmentation =
        Functional.Images.ImageAugmentation(Rotation = 0.1, Zoom = 0.1, CropHeight = 3, CropWidth = 3)

    [
        case "ImageOps.Resize: an integer image" "ArgumentException" [ "floating-point"; "Byte" ] (fun () ->
            Functional.Images.ImageOps.Resize(torch.zeros (3L, 4L, 4L, dtype = torch.uint8), 2, 2)
            |> ignore)
        case "ImageOps.Resize: a size of 0" "ArgumentOutOfRangeException" [ "at least 1 x 1" ] (fun () ->
            Functional.Images.ImageOps.Resize(torch.rand (3L, 4L, 4L), 0, 2) |> ignore)
        case "ImageOps.Affine: a rank-2 image" "ArgumentException" [ "[channels, height, width]"; "[4, 4]" ] (fun () ->
            Functional.Images.ImageOps.Affine(torch.rand (4L, 4L), 0.5) |> ignore)
        case "ImageOps.Affine: an empty image" "ArgumentException" [ "empty image" ] (fun () ->
            Functional.Images.ImageOps.Affine(torch.rand (3L, 0L, 4L), 0.5) |> ignore)
        case "ImageOps.Normalize: a mean for 2 of 3 channels" "ArgumentException" [ "per channel (3)" ] (fun () ->
            Functional.Images.ImageOps.Normalize(torch.rand (3L, 4L, 4L), [| 0.5f; 0.5f |], [| 1.0f; 1.0f |])
            |> ignore)
        case "ImageOps.Grayscale: one channel" "ArgumentException" [ "3 channels" ] (fun () ->
            Functional.Images.ImageOps.Grayscale(torch.rand (1L, 4L, 4L)) |> ignore)
        case
            "ImageAugmentation.ApplyBatch: one image, not a batch"
            "ArgumentException"
            [ "[batch, channels, height, width]" ]
            (fun () ->
                augmentation.ApplyBatch(torch.rand (3L, 4L, 4L), (fun i -> RandomKey(uint64 i)))
                |> ignore)
        case
            "ImageAugmentation.ApplyBatch: a crop larger than the images"
            "ArgumentException"
            [ "does not fit a 2 x 2 image" ]
            (fun () ->
                augmentation.ApplyBatch(torch.rand (2L, 1L, 2L, 2L), (fun i -> RandomKey(uint64 i)))
                |> ignore)
        case "ImageAugmentation.ApplyBatch: an empty batch" "none" [] (fun () ->
            augmentation.ApplyBatch(torch.rand (0L, 1L, 4L, 4L), (fun i -> RandomKey(uint64 i)))
            |> ignore)
        case "ImageAugmentation.Apply: a float64 image" "none" [] (fun () ->
            augmentation.Apply(torch.rand (1L, 4L, 4L, dtype = torch.float64), RandomKey(1UL))
            |> ignore)
    ]

let cases: Case list =
    layerCases
    @ hugeCases
    @ lossCases
    @ hyperparameterCases
    @ modelCases
    @ fileCases
    @ csvCases
    @ imageCases
    @ pretrainedCases
    @ optimizationCases
    @ distributedCases

let private marker = "@@probe"

/// The child's side: runs the cases (all, or those whose ids are given), one result line each.
let run (ids: string list) =
    let chosen =
        if ids.IsEmpty then
            cases
        else
            cases |> List.filter (fun c -> List.contains c.Id ids)

    use stdout = new StreamWriter(Console.OpenStandardOutput(), AutoFlush = true)

    for c in chosen do
        let outcome =
            try
                Support.scoped c.Run
                "none\t"
            with e ->
                let message = e.Message.ReplaceLineEndings " "
                $"{e.GetType().Name}\t{message}"

        stdout.WriteLine($"{marker}\t{c.Id}\t{outcome}")

    0


/// Runs the probe child with the given case ids (all when empty): exit code and results by id.
let private probe (ids: string list) =
    let exitCode, stdout, _ =
        Support.runSelf ("--crash-probe" :: ids) (TimeSpan.FromMinutes 5.0) "the crash probe"

    let results =
        stdout.Split('\n')
        |> Array.choose (fun line ->
            match line.TrimEnd('\r').Split('\t') with
            | [| m; id; kind; message |] when m = marker -> Some(id, (kind, message))
            | _ -> None)
        |> Map.ofArray

    exitCode, results

/// Kinds the subject table leaves out, and why.
let private notProbed =
    [
        "functional" // its shapes are fixed when the graph is built (LayerTests cover its checks)
        "lambda" // its input goes to user code as it is
        "flatten"
        "reshape"
    ] // they take any dtype, so the dtype cases do not apply (LayerTests cover their shapes)

let tests =
    testList
        "crash probe"
        [
            testCase "every built-in layer kind is probed"
            <| fun () ->
                let probed =
                    subjects
                    |> List.map (fun s -> (LayerRegistry.ToJson(s.Make())).["type"].GetValue<string>())
                    |> Set.ofList

                let builtIn =
                    typeof<Dense>.Assembly.GetTypes()
                    |> Array.choose (fun t ->
                        match t.GetCustomAttributes(typeof<LayerKindAttribute>, false) with
                        | [| :? LayerKindAttribute as a |] -> Some a.Kind
                        | _ -> None)

                let missing =
                    builtIn
                    |> Array.filter (fun k -> not (probed.Contains k || List.contains k notProbed))

                Expect.isEmpty missing $"""built-in kinds without a crash-probe subject: {String.Join(", ", missing)}"""

            testCase
                $"{cases.Length} bad inputs in a child process: no crash, the documented exception, a message that says where"
            <| fun () ->
                Expect.isGreaterThanOrEqual cases.Length 100 "at least 100 cases"

                Expect.equal
                    (cases |> List.distinctBy (fun c -> c.Id) |> List.length)
                    cases.Length
                    "case ids are unique"

                let exitCode, results = probe []

                if exitCode <> 0 then
                    // Locate the crash: the first case without a result, rerun alone to confirm.
                    let first = cases |> List.find (fun c -> not (results.ContainsKey c.Id))
                    let alone, _ = probe [ first.Id ]
                    failtestf "case '%s' ended the process (exit code %d; alone: %d)" first.Id exitCode alone

                let failures =
                    [
                        for c in cases do
                            match results.TryFind c.Id with
                            | None -> yield $"{c.Id}: no result"
                            | Some(kind, message) ->
                                if kind <> c.Expected then
                                    yield $"{c.Id}: expected {c.Expected}, got {kind}: {message}"
                                else
                                    for fragment in c.Fragments do
                                        if not (message.Contains(fragment, StringComparison.Ordinal)) then
                                            yield $"{c.Id}: the message does not say '{fragment}': {message}"
                    ]

                if not failures.IsEmpty then
                    failtestf "%d of %d cases:\n%s" failures.Length cases.Length (String.Join("\n", failures))
        ]
