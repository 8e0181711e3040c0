/// ONNX export, verified by running the exported models in ONNX Runtime.
module Functional.PropertyTests.OnnxTests

open System
open System.IO
open Expecto
open Microsoft.ML.OnnxRuntime
open Microsoft.ML.OnnxRuntime.Tensors
open TorchSharp
open Functional.Layers
open Functional.Export
open Support

/// Runs an ONNX file on `x` in ONNX Runtime; returns the output as a tensor.
let runOnnx (path: string) (x: torch.Tensor) =
    use session = new InferenceSession(path)
    let data = x.contiguous().data<float32>().ToArray()

    let input =
        NamedOnnxValue.CreateFromTensor(
            "input",
            DenseTensor<float32>(Memory<float32>(data), ReadOnlySpan<int>(x.shape |> Array.map int))
        )

    use results = session.Run([ input ])
    let output = results |> Seq.head
    let tensor = output.AsTensor<float32>()
    let values: float32[] = Seq.toArray tensor
    torch.tensor(values).reshape(tensor.Dimensions.ToArray() |> Array.map int64)

let private models: (string * (unit -> ILayer) * int64[]) list =
    [
        "dense with every activation",
        (fun () ->
            Sequential(
                Dense(8L, ActivationFunction.Relu),
                Dense(8L, ActivationFunction.Gelu),
                Dense(8L, ActivationFunction.Silu),
                Dense(8L, ActivationFunction.Tanh),
                Dense(6L, ActivationFunction.Sigmoid),
                Dense(4L),
                Activation(ActivationFunction.Softmax)
            )
            :> ILayer),
        [| 5L |]
        "convolutions, pooling, batch norm, dropout, flatten",
        (fun () ->
            Sequential(
                Conv2D(4L, 3L, padding = Padding.Same, activation = ActivationFunction.Relu),
                BatchNorm(),
                MaxPool2D(2L),
                Conv2D(6L, 3L, stride = 2L),
                AveragePool2D(1L),
                Dropout(0.5),
                Flatten(),
                Dense(3L, ActivationFunction.LogSoftmax)
            )
            :> ILayer),
        [| 2L; 9L; 9L |]
        "reshape, 1-D convolution and pooling, global pooling, layer norm, residual",
        (fun () ->
            Sequential(
                Reshape([| 3L; -1L |]),
                Conv1D(5L, 3L, padding = Padding.Same, activation = ActivationFunction.Tanh),
                MaxPool1D(2L),
                AveragePool1D(2L, stride = 1L),
                GlobalPool(PoolKind.Average),
                LayerNorm(),
                Residual(Dense(5L, ActivationFunction.Tanh)),
                Dense(2L)
            )
            :> ILayer),
        [| 24L |]
        "multi-head self-attention (plain and causal) in a transformer-style block",
        (fun () ->
            Sequential(
                Dense(8L),
                Residual(MultiHeadAttention(2L, 4L)),
                LayerNorm(),
                Residual(MultiHeadAttention(2L, 3L, causal = true)),
                Flatten(),
                Dense(2L)
            )
            :> ILayer),
        [| 5L; 3L |]
        "LSTM and GRU, unrolled (sequences and last state)",
        (fun () ->
            Sequential(Lstm(4L, returnSequences = true), Gru(3L, returnSequences = true), Lstm(2L), Dense(2L))
            :> ILayer),
        [| 4L; 3L |]
        "a functional graph: shared layer, add, concatenate",
        (fun () ->
            let input = Graph.Input([| 6L |])
            let shared = Dense(6L, ActivationFunction.Tanh)
            let a = shared.Call(input)
            let b = shared.Call(Dense(6L).Call(input))
            FunctionalModel([ input ], [ Dense(3L).Call(Graph.Concatenate(0, Graph.Add(a, b), input)) ]) :> ILayer),
        [| 6L |]
    ]

let tests =
    testList
        "onnx export"
        [
            for name, make, shape in models do
                testCase $"{name}: ONNX Runtime agrees within 1e-5, at two batch sizes"
                <| fun () ->
                    scoped (fun () ->
                        let network = make ()
                        use rng = new torch.Generator(3UL)
                        let v = network.Init(rng, shape)
                        // Non-trivial running statistics, so inference-mode batch norm is exercised.
                        let v =
                            Variables(v.Params, v.State.Map(fun t -> t + torch.rand (t.shape, generator = rng)))

                        let path = Path.Combine(Path.GetTempPath(), $"functional-{Guid.NewGuid():N}.onnx")

                        try
                            OnnxExport.Save(path, network, shape, v)

                            for batch in [ 1L; 4L ] do
                                let x = torch.randn ([| yield batch; yield! shape |], generator = rng)
                                let struct (expected, _) = network.Apply(v, x, ApplyContext.Inference)
                                expectClose $"{name}, batch {batch}" 1e-5 (runOnnx path x) expected
                        finally
                            File.Delete path)

            testCase "an embedding network takes int64 ids and agrees with ONNX Runtime"
            <| fun () ->
                scoped (fun () ->
                    let network = Sequential(Embedding(10L, 4L), Gru(3L), Dense(2L))
                    use rng = new torch.Generator(5UL)
                    let v = network.Init(rng, [| 6L |])
                    let path = Path.Combine(Path.GetTempPath(), $"functional-{Guid.NewGuid():N}.onnx")

                    try
                        OnnxExport.Save(path, network, [| 6L |], v)
                        let ids = torch.randint (0L, 10L, [| 3L; 6L |], generator = rng)
                        use session = new InferenceSession(path)

                        let input =
                            NamedOnnxValue.CreateFromTensor(
                                "input",
                                DenseTensor<int64>(
                                    Memory<int64>(ids.data<int64>().ToArray()),
                                    ReadOnlySpan<int>([| 3; 6 |])
                                )
                            )

                        use results = session.Run([ input ])

                        let values: float32[] =
                            Seq.toArray (results |> Seq.head |> fun r -> r.AsTensor<float32>())

                        let struct (expected, _) = network.Apply(v, ids, ApplyContext.Inference)
                        expectClose "embedding network" 1e-5 (torch.tensor(values).reshape(3L, 2L)) expected
                    finally
                        File.Delete path)

            testCase "a layer that cannot export is named"
            <| fun () ->
                scoped (fun () ->
                    let network =
                        Sequential(Dense(3L), Activation(ActivationFunction("swish2", fun t -> t * t.sigmoid ())))

                    use rng = new torch.Generator(0UL)
                    let v = network.Init(rng, [| 4L |])

                    expectThrowsWith<NotSupportedException> [ "'swish2'"; "ONNX" ] (fun () ->
                        OnnxExport.ToModel(network, [| 4L |], v) |> ignore))
        ]
