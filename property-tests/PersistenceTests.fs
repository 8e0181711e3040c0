/// Saving and loading: the safetensors format exactly, atomic writes, loads that trust
/// nothing (fuzzed), and training state that resumes exactly.
module Functional.PropertyTests.PersistenceTests

open System
open System.IO
open System.Text
open System.Text.Json
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Functional.Trees
open Functional.Persistence
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training
open Functional.FSharp.Testing
open Support

let private temporary () =
    Path.Combine(Path.GetTempPath(), $"functional-{Guid.NewGuid():N}.safetensors")

let private withFile (f: string -> unit) =
    let path = temporary ()

    try
        f path
    finally
        if File.Exists path then
            File.Delete path

let private sample () =
    TensorTree.Of(
        struct ("layer/kernel", torch.arange(6.0f).reshape(2L, 3L)),
        struct ("layer/bias", torch.tensor ([| 1.5; -2.0 |], dtype = torch.float64)),
        struct ("ids", torch.tensor ([| 7L; -1L |])),
        struct ("mask", torch.tensor ([| true; false; true |]))
    )

/// Every kind of damage to a valid file, drawn by FsCheck.
type private Damage =
    | Truncate of keep: float
    | Flip of position: float * value: byte
    | HeaderLength of value: uint64

/// Two networks that between them hold every built-in layer type.
let private imageNetwork () =
    Sequential(
        Conv2D(4L, 3L, padding = Padding.Same, activation = ActivationFunction.Relu),
        BatchNorm(0.9),
        AveragePool2D(2L),
        MaxPool2D(1L),
        Reshape([| 4L; -1L |]),
        Conv1D(3L, 3L, padding = Padding.Same, activation = ActivationFunction.Tanh),
        AveragePool1D(2L),
        MaxPool1D(1L),
        GlobalPool(PoolKind.Max),
        Dense(8L, ActivationFunction.Gelu),
        Dropout(0.1),
        LayerNorm(),
        Residual(Dense(8L)),
        Activation(ActivationFunction.Silu),
        Dense(2L)
    )

let private sequenceNetwork () =
    Sequential(
        Embedding(10L, 6L),
        Lstm(4L, true),
        Gru(4L, true),
        MultiHeadAttention(2L, 3L, causal = true),
        Flatten(),
        Dense(1L, useBias = false)
    )

let private savedFolder () =
    Path.Combine(Path.GetTempPath(), $"functional-model-{Guid.NewGuid():N}")

let private withFolder (f: string -> unit) =
    let folder = savedFolder ()

    try
        f folder
    finally
        if Directory.Exists folder then
            Directory.Delete(folder, true)

/// The one file of a saved folder whose name starts with part (e.g. "model."), skipping temporaries.
let private partFile (folder: string) (part: string) =
    Directory.GetFiles(folder, part + ".*") |> Array.exactlyOne

/// Rewrites a saved folder in the layout before manifests (model.json + state.safetensors), whose
/// files can be edited without a checksum noticing.
let private asUnversioned (folder: string) =
    File.Move(partFile folder "model", Path.Combine(folder, "model.json"))
    File.Move(partFile folder "state", Path.Combine(folder, "state.safetensors"))
    File.Delete(Path.Combine(folder, SavedFolder.ManifestName))

type private Doubler(name: string) =
    interface ILayer with
        member _.Name = name
        member _.OutputShape shape = shape
        member _.Init(_, _) = Variables.None
        member _.Apply(v, x, _) = struct (x * 2.0f, v.State)

let tests =
    testList
        "persistence"
        [
            testPropertyWithConfig config "safetensors round trip keeps paths, shapes, dtypes and values"
            <| fun (tree: TreeSample) ->
                scoped (fun () ->
                    withFile (fun path ->
                        let t = tree.ToTree()
                        SafeTensors.Save(path, t, readOnlyDict [ "note", "hello" ])
                        let struct (loaded, metadata) = SafeTensors.Load path
                        Expect.equal loaded.Structure t.Structure "structure"
                        expectTreesClose "values" 0.0 loaded t
                        Expect.equal metadata.["note"] "hello" "metadata"))

            testCase "every dtype round-trips bit for bit"
            <| fun () ->
                scoped (fun () ->
                    withFile (fun path ->
                        let floats = torch.tensor ([| 0.5f; -1.25f; 3.0f |])

                        let tree =
                            TensorTree.Of(
                                struct ("f32", floats),
                                struct ("f16", floats.to_type torch.float16),
                                struct ("bf16", floats.to_type torch.bfloat16),
                                struct ("i32", torch.tensor ([| 1; -2 |])),
                                struct ("i16", torch.tensor ([| 3s |])),
                                struct ("i8", torch.tensor ([| -4y |])),
                                struct ("u8", torch.tensor ([| 200uy |])),
                                struct ("empty", torch.zeros (0L, 3L))
                            )

                        SafeTensors.Save(path, tree)
                        let struct (loaded, _) = SafeTensors.Load path

                        for p in tree.Paths do
                            Expect.equal loaded.[p].dtype tree.[p].dtype p
                            Expect.isTrue (loaded.[p].eq(tree.[p]).all().item<bool>()) p))

            testCase "the file follows the format: little-endian length, JSON header, aligned contiguous data"
            <| fun () ->
                scoped (fun () ->
                    withFile (fun path ->
                        SafeTensors.Save(path, sample ())
                        let bytes = File.ReadAllBytes path
                        let headerLength = BitConverter.ToUInt64(bytes, 0) |> int
                        Expect.equal ((8 + headerLength) % 8) 0 "data starts 8-byte aligned"
                        use header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, headerLength))
                        let entry = header.RootElement.GetProperty "layer/kernel"
                        Expect.equal (entry.GetProperty("dtype").GetString()) "F32" "dtype name"

                        Expect.sequenceEqual
                            [ for d in entry.GetProperty("shape").EnumerateArray() -> d.GetInt64() ]
                            [ 2L; 3L ]
                            "shape"

                        let offsets =
                            [ for d in entry.GetProperty("data_offsets").EnumerateArray() -> d.GetInt32() ]

                        let start = 8 + headerLength + offsets.[0]

                        Expect.sequenceEqual
                            [ for i in 0..5 -> BitConverter.ToSingle(bytes, start + 4 * i) ]
                            [ 0.0f; 1.0f; 2.0f; 3.0f; 4.0f; 5.0f ]
                            "little-endian row-major"))

            testCase "a file written by an independent writer loads"
            <| fun () ->
                scoped (fun () ->
                    withFile (fun path ->
                        // Assembled by hand from the format description, as another library writes it.
                        let header =
                            """{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"a.weight":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"""

                        let headerBytes = Encoding.UTF8.GetBytes header
                        use stream = File.Create path

                        for part in
                            [
                                BitConverter.GetBytes(uint64 headerBytes.Length)
                                headerBytes
                                BitConverter.GetBytes(2.5)
                                BitConverter.GetBytes(-7L)
                            ] do
                            stream.Write(part, 0, part.Length)

                        stream.Close()
                        let struct (loaded, metadata) = SafeTensors.Load path
                        Expect.sequenceEqual loaded.Paths [ "a.weight"; "b" ] "offset order"
                        expectClose "a.weight" 0.0 loaded.["a.weight"] (vector [ 2.5 ])
                        Expect.equal (loaded.["b"].item<int64>()) -7L "b"
                        Expect.equal metadata.["format"] "pt" "metadata"))

            testPropertyWithConfig
                { config with maxTest = 200 }
                "a damaged file is an InvalidDataException or loads, never anything else"
            <| fun (damage: Damage) ->
                scoped (fun () ->
                    withFile (fun path ->
                        SafeTensors.Save(path, sample ())
                        let bytes = File.ReadAllBytes path

                        let damaged =
                            match damage with
                            | Truncate keep -> bytes.[.. int (float bytes.Length * (abs keep % 1.0)) - 1]
                            | Flip(position, value) ->
                                let copy = Array.copy bytes
                                copy.[int (float (copy.Length - 1) * (abs position % 1.0))] <- value
                                copy
                            | HeaderLength value ->
                                let copy = Array.copy bytes
                                BitConverter.GetBytes(value).CopyTo(copy, 0)
                                copy

                        File.WriteAllBytes(path, damaged)

                        try
                            SafeTensors.Load path |> ignore
                        with :? InvalidDataException as e ->
                            Expect.stringContains e.Message path "names the file"))

            testCase "lies in the header are named"
            <| fun () ->
                withFile (fun path ->
                    let write (header: string) (data: int) =
                        let h = Encoding.UTF8.GetBytes header

                        File.WriteAllBytes(
                            path,
                            Array.concat [ BitConverter.GetBytes(uint64 h.Length); h; Array.zeroCreate data ]
                        )

                    let fails (fragment: string) =
                        expectThrowsWith<InvalidDataException> [ fragment ] (fun () -> SafeTensors.Load path |> ignore)

                    write """{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}""" 8
                    fails "needs 16 bytes"

                    write
                        """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"""
                        8

                    fails "overlaps"
                    write """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""" 100
                    fails "after the last tensor"
                    write """{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}""" 4
                    fails "not supported"
                    write """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}""" 4
                    fails "not JSON")

            testCase "an interrupted save leaves the previous file whole and no temporary file"
            <| fun () ->
                withFile (fun path ->
                    File.WriteAllText(path, "previous")

                    Expect.throwsT<InvalidOperationException>
                        (fun () ->
                            AtomicFile.Write(
                                path,
                                fun stream ->
                                    stream.WriteByte 1uy
                                    invalidOp "crash in the middle"
                            ))
                        "the failure surfaces"

                    Expect.equal (File.ReadAllText path) "previous" "previous file intact"
                    let folder = Path.GetDirectoryName path

                    Expect.isEmpty
                        (Directory.GetFiles(folder, $".{Path.GetFileName path}.*.tmp"))
                        "no temporary file left")

            testCase
                "checkpoints: ModelCheckpoint saves, and resuming from the file finishes exactly like an uninterrupted run"
            <| fun () ->
                scoped (fun () ->
                    let folder =
                        Path.Combine(Path.GetTempPath(), $"functional-checkpoints-{Guid.NewGuid():N}")

                    try
                        use rng = new torch.Generator(5UL)
                        let x = torch.randn ([| 96L; 3L |], generator = rng)
                        let y = torch.randint (0L, 2L, [| 96L |], generator = rng)

                        let make () =
                            new Model(
                                Sequential(Dense(8L, ActivationFunction.Tanh), Dropout(0.2), BatchNorm(), Dense(2L)),
                                [| 3L |],
                                Loss.SparseCategoricalCrossEntropy(true),
                                Optimizer.AdamW 0.01,
                                [ SparseCategoricalAccuracy() :> Metric ],
                                3UL
                            )

                        let options = FitOptions(Verbosity = Verbosity.Silent, BatchSize = 32, Epochs = 4)
                        use straight = make ()
                        straight.Fit(x, y, options) |> ignore
                        use first = make ()
                        let checkpoint = ModelCheckpoint(Path.Combine(folder, "epoch-{epoch}.safetensors"))

                        first.Fit(
                            x,
                            y,
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                BatchSize = 32,
                                Epochs = 2,
                                Callbacks = [| checkpoint :> Callback |]
                            )
                        )
                        |> ignore

                        Expect.equal checkpoint.Saved.Count 2 "one file per epoch"
                        use resumed = make ()
                        resumed.Resume(TrainStateFile.Load(checkpoint.Saved.[1]))
                        Expect.equal resumed.State.Step 6L "step restored"

                        resumed.Fit(
                            x,
                            y,
                            FitOptions(Verbosity = Verbosity.Silent, BatchSize = 32, Epochs = 4, InitialEpoch = 2)
                        )
                        |> ignore

                        expectTreesClose "parameters" 0.0 resumed.State.Params straight.State.Params
                        expectTreesClose "model state" 0.0 resumed.State.ModelState straight.State.ModelState
                        expectTreesClose "optimizer state" 0.0 resumed.State.OptState straight.State.OptState
                    finally
                        if Directory.Exists folder then
                            Directory.Delete(folder, true))

            testCase "a saved model predicts identically without the code that built it (every built-in layer)"
            <| fun () ->
                scoped (fun () ->
                    for (network: ILayer), shape, (inputs: torch.Tensor) in
                        [
                            (imageNetwork () :> ILayer), [| 1L; 8L; 8L |], torch.randn (3L, 1L, 8L, 8L)
                            (sequenceNetwork () :> ILayer), [| 5L |], torch.randint (0L, 10L, [| 3L; 5L |])
                        ] do
                        withFolder (fun folder ->
                            use model =
                                new Model(network, shape, Loss.MeanSquaredError, Optimizer.Adam 0.01, seed = 4UL)

                            ModelFile.Save(folder, model, metadata = readOnlyDict [ "trained_on", "nothing yet" ])
                            Expect.equal (ModelFile.ReadMetadata folder).["trained_on"] "nothing yet" "user metadata"
                            let struct (rebuilt, inputShape, state) = ModelFile.Load folder
                            Expect.sequenceEqual inputShape shape "input shape"

                            Expect.equal
                                ((LayerRegistry.ToJson rebuilt).ToJsonString())
                                ((LayerRegistry.ToJson network).ToJsonString())
                                "the same description"

                            let struct (expected, _) =
                                network.Apply(
                                    Variables(model.State.Params, model.State.ModelState),
                                    inputs,
                                    ApplyContext.Inference
                                )

                            let struct (actual, _) =
                                rebuilt.Apply(
                                    Variables(state.Params, state.ModelState),
                                    inputs,
                                    ApplyContext.Inference
                                )

                            expectClose $"{network.Name} predictions" 0.0 actual expected))

            testCase "a saved functional model (shared layer, merges, attention) predicts identically"
            <| fun () ->
                scoped (fun () ->
                    withFolder (fun folder ->
                        let tokens = Graph.Input([| 4L; 3L |], "tokens")
                        let shared = Dense(6L, ActivationFunction.Tanh)
                        let a = shared.Call(tokens)
                        let b = shared.Call(Dense(3L).Call(tokens))
                        let attended = Graph.Add(a, MultiHeadAttention(2L, 3L).Call(b))
                        let joined = Graph.Concatenate(-1, attended, a)

                        let network =
                            FunctionalModel([ tokens ], [ Dense(2L).Call(Flatten().Call(joined)) ], "graph")

                        use model =
                            new Model(network, [| 4L; 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1, seed = 8UL)

                        ModelFile.Save(folder, model)
                        let struct (rebuilt, _, state) = ModelFile.Load folder

                        Expect.equal
                            ((LayerRegistry.ToJson rebuilt).ToJsonString())
                            ((LayerRegistry.ToJson network).ToJsonString())
                            "the same description"

                        let x = torch.randn (5L, 4L, 3L)

                        let struct (expected, _) =
                            network.Apply(
                                Variables(model.State.Params, model.State.ModelState),
                                x,
                                ApplyContext.Inference
                            )

                        let struct (actual, _) =
                            rebuilt.Apply(Variables(state.Params, state.ModelState), x, ApplyContext.Inference)

                        expectClose "predictions" 0.0 actual expected))

            testCase "a saved model with its optimizer state resumes training identically"
            <| fun () ->
                scoped (fun () ->
                    withFolder (fun folder ->
                        use rng = new torch.Generator(2UL)
                        let x = torch.randn ([| 64L; 1L; 8L; 8L |], generator = rng)
                        let y = torch.randn ([| 64L; 2L |], generator = rng)

                        let options epochs initial =
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                BatchSize = 16,
                                Epochs = epochs,
                                InitialEpoch = initial
                            )

                        use original =
                            new Model(
                                imageNetwork (),
                                [| 1L; 8L; 8L |],
                                Loss.MeanSquaredError,
                                Optimizer.Adam 0.01,
                                seed = 1UL
                            )

                        original.Fit(x, y, options 1 0) |> ignore
                        ModelFile.Save(folder, original)
                        use loaded = ModelFile.LoadModel(folder, Loss.MeanSquaredError, Optimizer.Adam 0.01)
                        original.Fit(x, y, options 2 1) |> ignore
                        loaded.Fit(x, y, options 2 1) |> ignore
                        expectTreesClose "parameters" 0.0 loaded.State.Params original.State.Params))

            testPropertyWithConfig
                { config with maxTest = 100 }
                "a damaged model description is an InvalidDataException or loads, never anything else"
            <| fun (position: float, replacement: char) ->
                scoped (fun () ->
                    withFolder (fun folder ->
                        use model =
                            new Model(
                                Sequential(Conv2D(2L, 3L), Flatten(), Dense(2L)),
                                [| 1L; 5L; 5L |],
                                Loss.MeanSquaredError,
                                Optimizer.Sgd 0.1
                            )

                        ModelFile.Save(folder, model)
                        let description = partFile folder "model"
                        let text = File.ReadAllText description
                        let at = int (float (text.Length - 1) * (abs position % 1.0))

                        File.WriteAllText(
                            description,
                            text.Substring(0, at) + string replacement + text.Substring(at + 1)
                        )

                        try
                            ModelFile.Load folder |> ignore
                        with :? InvalidDataException ->
                            ()))

            testCase "descriptions that cannot be read say where; unsaveable layers say which"
            <| fun () ->
                scoped (fun () ->
                    withFolder (fun folder ->
                        use model =
                            new Model(Sequential(Dense(2L)), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)

                        ModelFile.Save(folder, model)
                        asUnversioned folder
                        let description = Path.Combine(folder, "model.json")
                        let original = File.ReadAllText description

                        let fails (edit: string -> string) (fragments: string list) =
                            File.WriteAllText(description, edit original)

                            expectThrowsWith<InvalidDataException> fragments (fun () ->
                                ModelFile.Load folder |> ignore)

                        fails
                            (fun t -> t.Replace("\"dense\"", "\"teleporter\""))
                            [ "unknown layer type 'teleporter'"; "$.network.config.layers[0].type" ]

                        fails
                            (fun t -> t.Replace("\"format_version\": 1", "\"format_version\": 7"))
                            [ "format version 7"; "up to 1" ]

                        fails
                            (fun t -> t.Replace("\"units\": 2", "\"units\": \"two\""))
                            [ "$.network.config.layers[0].config.units"; "not an integer" ]

                        fails (fun t -> t.Replace("\"linear\"", "\"sparkle\"")) [ "unknown activation 'sparkle'" ]

                        fails
                            (fun t -> t.Replace("\"units\": 2", "\"units\": 3"))
                            [ "do not fit"; "'params/dense/kernel'" ]

                        File.WriteAllText(description, original)
                        Directory.Delete(folder, true)

                        use custom =
                            new Model(
                                Sequential(Doubler "twice", Dense(1L)),
                                [| 2L |],
                                Loss.MeanSquaredError,
                                Optimizer.Sgd 0.1
                            )

                        expectThrowsWith<NotSupportedException> [ "'twice'"; "LayerRegistry.Register" ] (fun () ->
                            ModelFile.Save(folder, custom))

                        LayerRegistry.Register<Doubler>(
                            "doubler",
                            (fun _ -> LayerConfig()),
                            (fun _ name -> Doubler(name))
                        )

                        ModelFile.Save(folder, custom)
                        let struct (rebuilt, _, _) = ModelFile.Load folder

                        Expect.equal
                            ((rebuilt :?> Sequential).Layers.[0] |> fun struct (n, _) -> n)
                            "twice"
                            "custom layer rebuilt"))

            testCase "class names are carried by the model: saved, loaded, used by PredictClassNames"
            <| fun () ->
                scoped (fun () ->
                    withFolder (fun folder ->
                        let names = [| "setosa"; "versicolor"; "virginica" |]

                        use model =
                            new Model(
                                Dense(3L),
                                [| 4L |],
                                Loss.SparseCategoricalCrossEntropy(true),
                                Optimizer.Adam 0.01,
                                ClassNames = names
                            )

                        ModelFile.Save(folder, model)

                        use loaded =
                            ModelFile.LoadModel(folder, Loss.SparseCategoricalCrossEntropy(true), Optimizer.Adam 0.01)

                        Expect.sequenceEqual loaded.ClassNames names "names restored"
                        let x = torch.randn (5L, 4L)

                        let expected =
                            (loaded.Predict x).argmax(1L).data<int64>().ToArray()
                            |> Array.map (fun i -> names.[int i])

                        Expect.sequenceEqual (loaded.PredictClassNames x) expected "the highest score's name"
                        Expect.sequenceEqual (loaded.PredictClassNames(x.[0L])) [| expected.[0] |] "one example"

                        expectThrowsWith<ArgumentException> [ "3 class names, not 2" ] (fun () ->
                            model.ClassNames <- [| "a"; "b" |])

                        use binary =
                            new Model(
                                Dense(1L),
                                [| 4L |],
                                Loss.BinaryCrossEntropy(true),
                                Optimizer.Adam 0.01,
                                ClassNames = [| "no"; "yes" |]
                            )

                        let logits = binary.Predict x

                        let byThreshold =
                            logits.squeeze(1L).gt(torch.tensor 0.0f).data<bool>().ToArray()
                            |> Array.map (fun b -> if b then "yes" else "no")

                        Expect.sequenceEqual
                            (binary.PredictClassNames(x, threshold = 0.0))
                            byThreshold
                            "one unit: the threshold decides"))

            testCase
                "the training configuration is saved: LoadModel needs no arguments for built-ins, frozen layers stay frozen"
            <| fun () ->
                scoped (fun () ->
                    withFolder (fun folder ->
                        let x = torch.randn (24L, 4L)
                        let y = torch.randint (0L, 3L, [| 24L |])
                        let metrics: Metric list = [ SparseCategoricalAccuracy(); TopKAccuracy(2) ]

                        use model =
                            new Model(
                                Sequential(Dense(5L, ActivationFunction.Relu), Dense(3L)),
                                [| 4L |],
                                Loss.SparseCategoricalCrossEntropy(true, ignoreIndex = -1L),
                                Optimizer.AdamW(1e-2, 1e-3),
                                metrics,
                                5UL
                            )

                        model.Freeze "dense"

                        model.Fit(x, y, FitOptions(Epochs = 1, BatchSize = 8, Verbosity = Verbosity.Silent))
                        |> ignore

                        ModelFile.Save(folder, model)
                        use loaded = ModelFile.LoadModel folder

                        Expect.equal
                            (loaded.Loss.Description.ToJsonString())
                            (model.Loss.Description.ToJsonString())
                            "the loss"

                        Expect.equal
                            (loaded.BaseOptimizer.Description.ToJsonString())
                            (model.BaseOptimizer.Description.ToJsonString())
                            "the optimizer"

                        Expect.sequenceEqual
                            (loaded.Metrics |> Seq.map (fun m -> m.Description.ToJsonString()))
                            (model.Metrics |> Seq.map (fun m -> m.Description.ToJsonString()))
                            "the metrics"

                        Expect.sequenceEqual loaded.FrozenPaths [ "dense" ] "frozen paths"
                        expectTreesClose "optimizer state" 0.0 loaded.State.OptState model.State.OptState
                        let struct (a, _, _) = model.TrainStep(model.State, x, y)
                        let struct (b, _, _) = loaded.TrainStep(loaded.State, x, y)
                        expectTreesClose "the next step is the same step" 0.0 b.Params a.Params

                        use explicitArgs =
                            ModelFile.LoadModel(
                                folder,
                                Loss.SparseCategoricalCrossEntropy(true),
                                Optimizer.AdamW(1e-2, 1e-3)
                            )

                        Expect.sequenceEqual explicitArgs.FrozenPaths [ "dense" ] "frozen with explicit arguments too"
                        Directory.Delete(folder, true)

                        use custom =
                            new Model(
                                Dense(1L),
                                [| 4L |],
                                LossFunction("twice_mse", fun p t -> 2.0 * (p - t).square().mean([| 1L |])),
                                Optimizer.Sgd 0.1
                            )

                        ModelFile.Save(folder, custom)

                        expectThrowsWith<InvalidOperationException>
                            [ "training configuration"; "LoadModel(folder, loss, optimizer, metrics)" ]
                            (fun () -> ModelFile.LoadModel folder |> ignore)

                        Directory.Delete(folder, true)

                        use scheduled =
                            new Model(
                                Dense(1L),
                                [| 4L |],
                                Loss.MeanSquaredError,
                                Optimizer.Adam(Schedules.Cosine(1e-2, 100L))
                            )

                        ModelFile.Save(folder, scheduled)

                        expectThrowsWith<InvalidOperationException> [ "training configuration" ] (fun () ->
                            ModelFile.LoadModel folder |> ignore)))

            testCase "checkpoint rotation keeps the newest files"
            <| fun () ->
                scoped (fun () ->
                    let folder = savedFolder ()

                    try
                        use model = new Model(Dense(2L), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)

                        let checkpoint =
                            ModelCheckpoint(Path.Combine(folder, "e{epoch}.safetensors"), keepLast = 2)

                        model.Fit(
                            torch.randn (8L, 3L),
                            torch.randn (8L, 2L),
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                Epochs = 4,
                                BatchSize = 4,
                                Callbacks = [| checkpoint :> Callback |]
                            )
                        )
                        |> ignore

                        Expect.sequenceEqual
                            (checkpoint.Saved |> Seq.map Path.GetFileName)
                            [ "e3.safetensors"; "e4.safetensors" ]
                            "the last two"

                        Expect.sequenceEqual
                            (Directory.GetFiles folder |> Seq.map Path.GetFileName |> Seq.sort)
                            [ "e3.safetensors"; "e4.safetensors" ]
                            "older files deleted"
                    finally
                        if Directory.Exists folder then
                            Directory.Delete(folder, true))

            testCase "a training state from another model, a newer format or another kind of file is refused"
            <| fun () ->
                scoped (fun () ->
                    withFile (fun path ->
                        use small = new Model(Dense(2L), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)
                        use large = new Model(Dense(4L), [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)
                        TrainStateFile.Save(path, small.State)

                        expectThrowsWith<ArgumentException>
                            [ "parameters"; "'kernel'"; "(3, 2)"; "(3, 4)" ]
                            (fun () -> large.Resume(TrainStateFile.Load path))

                        SafeTensors.Save(
                            path,
                            TensorTree.Of(struct ("params/kernel", torch.ones (1L))),
                            readOnlyDict
                                [
                                    "format", "functional.train_state"
                                    "format_version", "99"
                                    "step", "0"
                                    "seed", "0"
                                ]
                        )

                        expectThrowsWith<InvalidDataException> [ "format version 99"; "up to 1" ] (fun () ->
                            TrainStateFile.Load path |> ignore)

                        SafeTensors.Save(path, sample ())

                        expectThrowsWith<InvalidDataException> [ "not a training state" ] (fun () ->
                            TrainStateFile.Load path |> ignore)))
        ]
