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

/// Reads every Event of every event file in a folder (TFRecord: length, its CRC, data, its CRC).
let private events (folder: string) =
    [ for file in Directory.GetFiles(folder, "events.out.tfevents.*") do
        use reader = new BinaryReader(File.OpenRead file)
        while reader.BaseStream.Position < reader.BaseStream.Length do
            let length = reader.ReadUInt64()
            reader.ReadUInt32() |> ignore
            let data = reader.ReadBytes(int length)
            reader.ReadUInt32() |> ignore
            yield Tensorboard.Event.Parser.ParseFrom data ]

let private tagged (all: Tensorboard.Event list) =
    [ for e in all do
        if not (isNull e.Summary) then
            for v in e.Summary.Value -> v.Tag, e.Step, v ]

let tests =
    testList "tensorboard" [
        testCase "epoch scalars for training and validation, weight histograms and the summary text" <| fun () ->
            scoped (fun () ->
                let folder = Path.Combine(Path.GetTempPath(), $"functional-tb-{Guid.NewGuid():N}")
                try
                    use rng = new torch.Generator(1UL)
                    let x = torch.randn([| 64L; 3L |], generator = rng)
                    let y = torch.randint(0L, 2L, [| 64L |], generator = rng)
                    use model = new Model(Sequential(Dense(4L, ActivationFunction.Tanh), Dense(2L)), [| 3L |],
                                          Loss.SparseCategoricalCrossEntropy(true), Optimizer.Adam 0.01, [ SparseCategoricalAccuracy() :> Metric ])
                    let history =
                        model.Fit(x, y, FitOptions(Verbosity = Verbosity.Silent, Epochs = 3, BatchSize = 16, ValidationSplit = 0.25,
                                                   Callbacks = [| TensorBoardLogger(folder, batchFrequency = 2, gradientHistograms = true) :> Callback |]))
                    let train = tagged (events (Path.Combine(folder, "train")))
                    let validation = tagged (events (Path.Combine(folder, "validation")))
                    let steps tag (records: (string * int64 * Tensorboard.Summary.Types.Value) list) =
                        records |> List.filter (fun (t, _, _) -> t = tag) |> List.map (fun (_, s, _) -> s)
                    Expect.sequenceEqual (steps "epoch/loss" train) [ 0L; 1L; 2L ] "training loss per epoch"
                    Expect.sequenceEqual (steps "epoch/accuracy" validation) [ 0L; 1L; 2L ] "validation accuracy per epoch"
                    let lastLoss = train |> List.findBack (fun (t, _, _) -> t = "epoch/loss") |> fun (_, _, v) -> float v.SimpleValue
                    Expect.floatClose Accuracy.medium lastLoss history.["loss"].[2] "the value logged"
                    Expect.isNonEmpty (steps "weights/dense/kernel" train) "weight histograms"
                    Expect.sequenceEqual (steps "gradients/dense_1/bias" train) [ 0L; 1L; 2L ] "gradient histograms"
                    Expect.isNonEmpty (steps "batch/loss" train) "batch losses"
                    Expect.isNonEmpty (steps "epoch/lr_multiplier" train) "learning rate"
                    Expect.sequenceEqual (steps "time/forward_backward_s" train) [ 0L; 1L; 2L ] "step-time breakdown"
                    Expect.isNonEmpty (train |> List.filter (fun (t, _, _) -> t.StartsWith "model/summary")) "summary text"
                finally
                    if Directory.Exists folder then Directory.Delete(folder, true))
    ]
