/// TensorBoard files are real event files: TFRecord framing around Event protobufs.
module Functional.PropertyTests.TensorBoardTests

open System
open System.IO
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training
open Support

/// TFRecord's checksum: CRC-32C, rotated and offset ("masked").
let private maskedCrc32c (bytes: byte[]) =
    let mutable crc = 0xFFFFFFFFu

    for b in bytes do
        crc <- crc ^^^ uint32 b

        for _ in 1..8 do
            crc <-
                if crc &&& 1u <> 0u then
                    0x82F63B78u ^^^ (crc >>> 1)
                else
                    crc >>> 1

    let crc = crc ^^^ 0xFFFFFFFFu
    ((crc >>> 15) ||| (crc <<< 17)) + 0xA282EAD8u

/// Reads every Event of every event file in a folder (TFRecord: length, its CRC, data, its CRC),
/// checking both checksums as TensorBoard does.
let events (folder: string) =
    [
        for file in Directory.GetFiles(folder, "events.out.tfevents.*") do
            use reader = new BinaryReader(File.OpenRead file)

            while reader.BaseStream.Position < reader.BaseStream.Length do
                let lengthBytes = reader.ReadBytes 8
                Expect.equal (reader.ReadUInt32()) (maskedCrc32c lengthBytes) $"length checksum in {file}"
                let data = reader.ReadBytes(int (BitConverter.ToUInt64(lengthBytes, 0)))
                Expect.equal (reader.ReadUInt32()) (maskedCrc32c data) $"data checksum in {file}"
                yield Tensorboard.Event.Parser.ParseFrom data
    ]

let private tagged (all: Tensorboard.Event list) =
    [
        for e in all do
            if not (isNull e.Summary) then
                for v in e.Summary.Value -> v.Tag, e.Step, v
    ]

let tests =
    testList
        "tensorboard"
        [
            testCase "epoch scalars for training and validation, weight histograms and the summary text"
            <| fun () ->
                scoped (fun () ->
                    let folder = Path.Combine(Path.GetTempPath(), $"functional-tb-{Guid.NewGuid():N}")

                    try
                        use rng = new torch.Generator(1UL)
                        let x = torch.randn ([| 64L; 3L |], generator = rng)
                        let y = torch.randint (0L, 2L, [| 64L |], generator = rng)

                        use model =
                            new Model(
                                Sequential(Dense(4L, ActivationFunction.Tanh), Dense(2L)),
                                [| 3L |],
                                Loss.SparseCategoricalCrossEntropy(true),
                                Optimizer.Adam 0.01,
                                [ SparseCategoricalAccuracy() :> Metric ]
                            )

                        let history =
                            model.Fit(
                                x,
                                y,
                                FitOptions(
                                    Verbosity = Verbosity.Silent,
                                    Epochs = 3,
                                    BatchSize = 16,
                                    ValidationSplit = 0.25,
                                    Callbacks =
                                        [|
                                            TensorBoardLogger(
                                                folder,
                                                batchFrequency = 2,
                                                gradientHistograms = true,
                                                sampleImages = torch.rand (2L, 1L, 5L, 4L)
                                            )
                                            :> Callback
                                        |]
                                )
                            )

                        let train = tagged (events (Path.Combine(folder, "train")))
                        let validation = tagged (events (Path.Combine(folder, "validation")))

                        let steps tag (records: (string * int64 * Tensorboard.Summary.Types.Value) list) =
                            records
                            |> List.filter (fun (t, _, _) -> t = tag)
                            |> List.map (fun (_, s, _) -> s)

                        Expect.sequenceEqual (steps "epoch/loss" train) [ 0L; 1L; 2L ] "training loss per epoch"

                        Expect.sequenceEqual
                            (steps "epoch/accuracy" validation)
                            [ 0L; 1L; 2L ]
                            "validation accuracy per epoch"

                        let lastLoss =
                            train
                            |> List.findBack (fun (t, _, _) -> t = "epoch/loss")
                            |> fun (_, _, v) -> float v.SimpleValue

                        Expect.floatClose Accuracy.medium lastLoss history.["loss"].[2] "the value logged"
                        Expect.isNonEmpty (steps "weights/dense/kernel" train) "weight histograms"

                        Expect.sequenceEqual
                            (steps "gradients/dense_1/bias" train)
                            [ 0L; 1L; 2L ]
                            "gradient histograms"

                        Expect.isNonEmpty (steps "batch/loss" train) "batch losses"
                        Expect.isNonEmpty (steps "epoch/lr_multiplier" train) "learning rate"
                        Expect.sequenceEqual (steps "time/backward_s" train) [ 0L; 1L; 2L ] "step-time breakdown"

                        Expect.isNonEmpty
                            (train |> List.filter (fun (t, _, _) -> t.StartsWith "model/summary"))
                            "summary text"

                        let graph =
                            events (Path.Combine(folder, "train"))
                            |> List.find (fun e -> not e.GraphDef.IsEmpty)
                            |> fun e -> Tensorboard.GraphDef.Parser.ParseFrom e.GraphDef

                        Expect.sequenceEqual
                            [ for n in graph.Node -> n.Name ]
                            [ "input"; "dense"; "dense_1" ]
                            "a node per layer"

                        Expect.sequenceEqual graph.Node.[2].Input [ "dense" ] "edges follow the data"
                        Expect.equal graph.Node.[1].Op "dense" "the layer kind as the op"
                        let _, _, image = train |> List.find (fun (t, _, _) -> t = "samples/1")

                        Expect.equal
                            (image.Image.Height, image.Image.Width, image.Image.Colorspace)
                            (5, 4, 1)
                            "image size and channels"

                        let png = image.Image.EncodedImageString.ToByteArray()

                        Expect.sequenceEqual
                            png.[..7]
                            [| 137uy; 80uy; 78uy; 71uy; 13uy; 10uy; 26uy; 10uy |]
                            "a PNG file"
                        // Every chunk's CRC-32 is right, and the pixels inflate to the image's size.
                        let crc32 (bytes: byte[]) =
                            let mutable c = 0xFFFFFFFFu

                            for b in bytes do
                                c <- c ^^^ uint32 b

                                for _ in 1..8 do
                                    c <-
                                        if c &&& 1u <> 0u then
                                            0xEDB88320u ^^^ (c >>> 1)
                                        else
                                            c >>> 1

                            c ^^^ 0xFFFFFFFFu

                        let bigEndian (i: int) =
                            (int png.[i] <<< 24)
                            ||| (int png.[i + 1] <<< 16)
                            ||| (int png.[i + 2] <<< 8)
                            ||| int png.[i + 3]

                        let mutable at = 8
                        let mutable idat = [||]

                        while at < png.Length do
                            let length = bigEndian at
                            let typeAndData = png.[at + 4 .. at + 7 + length]
                            Expect.equal (uint32 (bigEndian (at + 8 + length))) (crc32 typeAndData) "chunk CRC"

                            if Text.Encoding.ASCII.GetString(typeAndData, 0, 4) = "IDAT" then
                                idat <- typeAndData.[4..]

                            at <- at + 12 + length

                        use inflated =
                            new IO.Compression.ZLibStream(
                                new MemoryStream(idat),
                                IO.Compression.CompressionMode.Decompress
                            )

                        use rows = new MemoryStream()
                        inflated.CopyTo rows
                        Expect.equal rows.Length (5L * (1L + 4L)) "5 rows of a filter byte and 4 pixels"
                    finally
                        if Directory.Exists folder then
                            Directory.Delete(folder, true))

            testCase "the graph of a functional model: shared layers per call, merges as nodes"
            <| fun () ->
                scoped (fun () ->
                    let folder = Path.Combine(Path.GetTempPath(), $"functional-tb-{Guid.NewGuid():N}")

                    try
                        let input = Graph.Input([| 3L |])
                        let shared = Dense(3L, ActivationFunction.Tanh)
                        let twice = shared.Call(shared.Call(input))

                        let network =
                            FunctionalModel([ input ], [ Dense(2L).Call(Graph.Add(twice, input)) ])

                        use model = new Model(network, [| 3L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)

                        model.Fit(
                            torch.randn (8L, 3L),
                            torch.randn (8L, 2L),
                            FitOptions(
                                Verbosity = Verbosity.Silent,
                                BatchSize = 8,
                                Callbacks = [| TensorBoardLogger(folder, histograms = false) :> Callback |]
                            )
                        )
                        |> ignore

                        let graph =
                            events (Path.Combine(folder, "train"))
                            |> List.find (fun e -> not e.GraphDef.IsEmpty)
                            |> fun e -> Tensorboard.GraphDef.Parser.ParseFrom e.GraphDef

                        let node name =
                            graph.Node |> Seq.find (fun n -> n.Name = name)

                        Expect.sequenceEqual (node "dense_call2").Input [ "dense" ] "the second call reads the first"

                        Expect.sequenceEqual
                            (node "add").Input
                            [ "dense_call2"; "input" ]
                            "the merge reads both branches"

                        Expect.sequenceEqual (node "dense_1").Input [ "add" ] "the head reads the merge"
                    finally
                        if Directory.Exists folder then
                            Directory.Delete(folder, true))
        ]
