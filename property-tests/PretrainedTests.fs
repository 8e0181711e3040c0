/// Weights from the Python world: PyTorch checkpoints and safetensors written by real PyTorch
/// (fixtures/pytorch, made by make_fixtures.py there) read exactly, refused clearly when they
/// cannot be read, and loaded into our layers, where the outputs match PyTorch's own and those of
/// TorchSharp's nn modules given the same tensors.
module Functional.PropertyTests.PretrainedTests

open System
open System.Collections.Generic
open System.IO
open System.Text.Json
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Optimizers
open Functional.Pretrained
open Functional.Training

let private fixture name =
    Path.Combine(AppContext.BaseDirectory, "fixtures", "pytorch", name)

/// The tensor's bytes as PyTorch wrote the expected JSON: each element's raw bits, little-endian.
let private expectedBytes (dtype: torch.ScalarType) (bits: JsonElement) =
    let size =
        match dtype with
        | torch.ScalarType.Float64
        | torch.ScalarType.Int64 -> 8
        | torch.ScalarType.Float32
        | torch.ScalarType.Int32 -> 4
        | torch.ScalarType.Float16
        | torch.ScalarType.BFloat16
        | torch.ScalarType.Int16 -> 2
        | _ -> 1

    [|
        for v in bits.EnumerateArray() do
            let value = v.GetInt64()
            yield! BitConverter.GetBytes(value) |> Array.take size
    |]

let private matchesExpected (file: string) (expected: string) =
    let tensors = PyTorchCheckpoint.Load(fixture file)
    use document = JsonDocument.Parse(File.ReadAllText(fixture expected))
    let names = [ for p in document.RootElement.EnumerateObject() -> p.Name ]
    Expect.sequenceEqual (Seq.sort tensors.Keys) (Seq.sort names) $"{file}: the tensors PyTorch saved"

    for p in document.RootElement.EnumerateObject() do
        let t = tensors.[p.Name]
        let dtype = Enum.Parse<torch.ScalarType>(p.Value.GetProperty("dtype").GetString())
        Expect.equal t.dtype dtype $"{file} {p.Name}: dtype"

        let shape =
            [| for d in p.Value.GetProperty("shape").EnumerateArray() -> d.GetInt64() |]

        Expect.sequenceEqual t.shape shape $"{file} {p.Name}: shape"

        let actual =
            if t.numel () = 0L then
                [||]
            else
                t.contiguous().bytes.ToArray()

        Expect.sequenceEqual
            actual
            (expectedBytes dtype (p.Value.GetProperty "bits"))
            $"{file} {p.Name}: values, bit for bit"

    for t in tensors.Values do
        t.Dispose()

/// PyTorch's input and output for a model fixture.
let private io name =
    let t = PyTorchCheckpoint.Load(fixture $"model_{name}_io.pt")
    t.["x"], t.["y"]

let private loadedWith
    (modules: IReadOnlyDictionary<string, string> | null)
    (network: ILayer)
    (inputShape: int64[])
    (checkpoint: string)
    =
    use rng = new torch.Generator(3UL)
    let v = network.Init(rng, inputShape)
    PretrainedWeights.Load(Checkpoint.Open(fixture checkpoint), network, inputShape, v, modules)

let private loaded = loadedWith null

/// Our layer paths of the MLP, first and second Dense.
let private mlpPaths (network: ILayer) =
    use rng = new torch.Generator(3UL)
    let v = network.Init(rng, [| 4L |])

    v.Params.Paths
    |> Seq.map (fun p -> p.Substring(0, p.LastIndexOf '/'))
    |> Seq.distinct
    |> List.ofSeq

let private outputOf (network: ILayer) (v: Variables) (x: torch.Tensor) =
    let struct (y, _) = network.Apply(v, x, ApplyContext.Inference)
    y

let private closeTo (expected: torch.Tensor) (actual: torch.Tensor) what =
    Expect.sequenceEqual actual.shape expected.shape $"{what}: shape"
    let gap = (actual - expected).abs().max().item<float32>()
    Expect.isLessThan gap 1e-5f $"{what}: largest difference from PyTorch's output"

let private mlp () =
    Sequential(Dense(8L, activation = ActivationFunction.Relu), Dense(2L)) :> ILayer

let tests =
    testList
        "pretrained"
        [
            testCase
                "PyTorch checkpoints read bit for bit: dtypes, views, shared storages, nested dicts, pickle protocols, Zip64"
            <| fun () ->
                Support.scoped (fun () ->
                    for name in [ "mlp"; "conv"; "views"; "nested"; "nested_proto4"; "mlp_proto5" ] do
                        matchesExpected $"{name}.pt" $"expected_{name}.json"

                    matchesExpected "mlp_zip64.pt" "expected_mlp.json")

            testCase "the index lists names, dtypes and shapes without the data; a filter reads only what it names"
            <| fun () ->
                Support.scoped (fun () ->
                    let index = PyTorchCheckpoint.ReadIndex(fixture "mlp.pt")

                    Expect.sequenceEqual
                        [ for t in index -> t.Name, List.ofArray t.Shape ]
                        [
                            "0.weight", [ 3L; 4L ]
                            "0.bias", [ 3L ]
                            "2.weight", [ 2L; 3L ]
                            "2.bias", [ 2L ]
                        ]
                        "state-dict order"

                    let some = PyTorchCheckpoint.Load(fixture "mlp.pt", fun n -> n.StartsWith "2.")
                    Expect.sequenceEqual (Seq.sort some.Keys) [ "2.bias"; "2.weight" ] "only the filtered tensors")

            testCase "formats we cannot read are refused in words that say which and why"
            <| fun () ->
                for file, words in
                    [
                        "legacy.pt", "legacy"
                        "script.pt", "TorchScript"
                        "mlp_deflated.pt", "compress"
                    ] do
                    let e =
                        Support.catchError<InvalidDataException>(fun () ->
                            PyTorchCheckpoint.Load(fixture file) |> ignore)

                    Expect.stringContains e.Message file "names the file"
                    Expect.isTrue (e.Message.Contains(words, StringComparison.OrdinalIgnoreCase)) $"{file}: {e.Message}"

                let e =
                    Support.catchError<InvalidDataException>(fun () -> Checkpoint.Open(fixture "legacy.pt") |> ignore)

                Expect.stringContains e.Message "legacy" "the PyTorch reader's words"

            testCase
                "an MLP from PyTorch (.pt in order; safetensors and sharded safetensors by a map) gives PyTorch's outputs"
            <| fun () ->
                Support.scoped (fun () ->
                    let x, y = io "mlp"
                    let network = mlp ()
                    closeTo y (outputOf network (loaded network [| 4L |] "model_mlp.pt") x) "model_mlp.pt"

                    let first, second =
                        match mlpPaths network with
                        | [ a; b ] -> a, b
                        | other -> failwithf "%A" other

                    let map = readOnlyDict [ first, "0"; second, "2" ]

                    for checkpoint in [ "model_mlp.safetensors"; "model.safetensors.index.json" ] do
                        closeTo y (outputOf network (loadedWith map network [| 4L |] checkpoint) x) checkpoint

                        let e =
                            Support.catchError<ArgumentException>(fun () ->
                                loaded network [| 4L |] checkpoint |> ignore)

                        Expect.stringContains e.Message "does not keep module order" $"{checkpoint} in order: refused")

            testCase "TorchSharp's nn modules given the same tensors agree with our layers"
            <| fun () ->
                Support.scoped (fun () ->
                    let x, y = io "mlp"

                    let reference =
                        torch.nn.Sequential(
                            struct ("0", torch.nn.Linear(4L, 8L) :> torch.nn.Module<torch.Tensor, torch.Tensor>),
                            struct ("1", torch.nn.ReLU() :> torch.nn.Module<torch.Tensor, torch.Tensor>),
                            struct ("2", torch.nn.Linear(8L, 2L) :> torch.nn.Module<torch.Tensor, torch.Tensor>)
                        )

                    let state = PyTorchCheckpoint.Load(fixture "model_mlp.pt")
                    reference.load_state_dict (Dictionary(state)) |> ignore
                    reference.eval ()
                    use _ = torch.no_grad ()
                    closeTo y (reference.forward x) "TorchSharp nn.Sequential"
                    let network = mlp ()
                    closeTo (reference.forward x) (outputOf network (loaded network [| 4L |] "model_mlp.pt") x) "ours")

            testCase "a convolution with batch norm (running statistics as state) gives PyTorch's outputs"
            <| fun () ->
                Support.scoped (fun () ->
                    let x, y = io "conv"

                    let network =
                        Sequential(
                            Conv2D(2L, 3L),
                            BatchNorm(epsilon = 1e-5),
                            Activation(ActivationFunction.Relu),
                            Flatten(),
                            Dense(3L)
                        )
                        :> ILayer

                    let v = loaded network [| 1L; 6L; 6L |] "model_conv.pt"
                    Expect.isGreaterThan v.State.Count 0 "running statistics loaded as state"
                    closeTo y (outputOf network v x) "conv net")

            testCase "LSTM, GRU and SimpleRNN (gate order, stacked gates, two biases) give PyTorch's outputs"
            <| fun () ->
                Support.scoped (fun () ->
                    for name, recurrent in
                        [
                            "lstm", (Lstm(4L, returnSequences = true) :> ILayer)
                            "gru", (Gru(4L, returnSequences = true) :> ILayer)
                            "rnn", (SimpleRnn(4L, returnSequences = true) :> ILayer)
                        ] do
                        let x, y = io name
                        let network = Sequential(Embedding(7L, 3L), recurrent) :> ILayer
                        closeTo y (outputOf network (loaded network [| 5L |] $"model_{name}.pt") x) name)

            testCase "a map from layer paths to modules loads only those layers (a pretrained body under a new head)"
            <| fun () ->
                Support.scoped (fun () ->
                    let network =
                        Sequential(Dense(8L, activation = ActivationFunction.Relu), Dense(5L)) :> ILayer

                    use rng = new torch.Generator(3UL)
                    let before = network.Init(rng, [| 4L |])
                    let first = before.Params.Paths |> Seq.find (fun p -> p.EndsWith "/kernel")
                    let head = before.Params.Paths |> Seq.findBack (fun p -> p.EndsWith "/kernel")
                    let layer = first.Substring(0, first.LastIndexOf '/')

                    let v =
                        PretrainedWeights.Load(
                            Checkpoint.Open(fixture "model_mlp.pt"),
                            network,
                            [| 4L |],
                            before,
                            readOnlyDict [ layer, "0" ]
                        )

                    let pytorch = PyTorchCheckpoint.Load(fixture "model_mlp.pt")

                    Expect.equal
                        ((v.Params.[first] - pytorch.["0.weight"].t()).abs().max().item<float32>())
                        0.0f
                        "the body: nn.Linear's weight, transposed"

                    Expect.isTrue
                        (Object.ReferenceEquals(v.Params.[head], before.Params.[head]))
                        "the new head: untouched")

            testCase "mismatches name the layer, the module and both shapes; nothing is half loaded"
            <| fun () ->
                Support.scoped (fun () ->
                    let network =
                        Sequential(Dense(7L, activation = ActivationFunction.Relu), Dense(2L)) :> ILayer

                    let e =
                        Support.catchError<InvalidDataException>(fun () ->
                            loaded network [| 4L |] "model_mlp.pt" |> ignore)

                    for part in [ "model_mlp.pt"; "'0'"; "kernel"; "(4, 8)"; "(4, 7)" ] do
                        Expect.stringContains e.Message part "the message"

                    let wrongCount = Sequential(Dense(8L), Dense(8L), Dense(2L)) :> ILayer

                    let e =
                        Support.catchError<InvalidDataException>(fun () ->
                            loaded wrongCount [| 4L |] "model_mlp.pt" |> ignore)

                    Expect.stringContains e.Message "2 modules" "counts both sides"

                    let noBias =
                        Sequential(Dense(8L, activation = ActivationFunction.Relu, useBias = false), Dense(2L))
                        :> ILayer

                    let e =
                        Support.catchError<InvalidDataException>(fun () ->
                            loaded noBias [| 4L |] "model_mlp.pt" |> ignore)

                    Expect.stringContains
                        e.Message
                        "'0.bias'"
                        "a tensor the layer has no use for is an error, not dropped"

                    let conv = Sequential(Conv2D(8L, 3L), Dense(2L)) :> ILayer

                    let e =
                        Support.catchError<InvalidDataException>(fun () ->
                            loaded conv [| 4L; 5L; 5L |] "model_mlp.pt" |> ignore)

                    Expect.stringContains
                        e.Message
                        "module '0'"
                        "a module that does not fit the layer's kind, in words")

            testCase "a model takes its weights from a checkpoint file and trains on from there"
            <| fun () ->
                Support.scoped (fun () ->
                    let x, y = io "mlp"
                    use model = new Model(mlp (), [| 4L |], Loss.MeanSquaredError, Optimizer.Adam 1e-3)
                    PretrainedWeights.LoadInto(model, fixture "model_mlp.pt")
                    closeTo y (model.Predict x) "Model.Predict after LoadInto")
        ]
