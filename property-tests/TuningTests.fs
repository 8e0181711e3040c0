/// Hyperparameter search: grids and seeded random draws, one Fit per trial, and the HParams
/// dashboard's summaries, decoded field by field.
module Functional.PropertyTests.TuningTests

open System
open System.IO
open Expecto
open Google.Protobuf
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training
open Functional.Tuning
open Support

/// A protobuf message as its fields: number and raw value (bytes, varint or double).
type private Field =
    | Bytes of ByteString
    | Varint of int64
    | Fixed of double

let private fields (bytes: ByteString) =
    let input = new CodedInputStream(bytes.ToByteArray())

    [
        while not input.IsAtEnd do
            let tag = input.ReadTag()
            let number = WireFormat.GetTagFieldNumber tag

            match WireFormat.GetTagWireType tag with
            | WireFormat.WireType.LengthDelimited -> yield number, Bytes(input.ReadBytes())
            | WireFormat.WireType.Varint -> yield number, Varint(input.ReadInt64())
            | WireFormat.WireType.Fixed64 -> yield number, Fixed(input.ReadDouble())
            | other -> failtestf "unexpected wire type %A" other
    ]

let private message number (fs: (int * Field) list) =
    fs
    |> List.choose (fun (n, f) ->
        match f with
        | Bytes b when n = number -> Some b
        | _ -> None)

let private text number fs =
    message number fs |> List.map (fun b -> b.ToStringUtf8())

let private varint number fs =
    fs
    |> List.tryPick (fun (n, f) ->
        match f with
        | Varint v when n = number -> Some v
        | _ -> None)

/// The hparams plugin content of each summary value tagged `tag` in a run folder (its own files only).
let private pluginContent (folder: string) (tag: string) =
    [
        for e in TensorBoardTests.events folder do
            if not (isNull e.Summary) then
                for v in e.Summary.Value do
                    if v.Tag = tag then
                        Expect.equal v.Metadata.PluginData.PluginName "hparams" "the plugin's name"
                        yield fields v.Metadata.PluginData.Content
    ]

let tests =
    testList
        "tuning"
        [
            testCase "a grid is every combination; a random search is seeded and stays in its domains"
            <| fun () ->
                let space =
                    HyperparameterSpace().Choice("units", 4, 8).Choice("optimizer", "adam", "sgd")

                Expect.sequenceEqual
                    [ for t in space.Grid() -> string t ]
                    [
                        "units=4, optimizer=adam"
                        "units=4, optimizer=sgd"
                        "units=8, optimizer=adam"
                        "units=8, optimizer=sgd"
                    ]
                    "the last varies fastest"

                let random =
                    HyperparameterSpace()
                        .Choice("units", 4, 8)
                        .LogRange("learning_rate", 1e-4, 1e-1)
                        .Range("dropout", 0.0, 0.5)

                let draws = random.Random(50, seed = 3)

                Expect.sequenceEqual
                    [ for t in random.Random(50, seed = 3) -> string t ]
                    [ for t in draws -> string t ]
                    "seeded"

                Expect.notEqual (string (random.Random(1, seed = 4).[0])) (string draws.[0]) "another seed, other draws"

                for t in draws do
                    let rate = t.Double "learning_rate"
                    Expect.isTrue (rate >= 1e-4 && rate <= 1e-1) "in the log range"
                    Expect.contains [ 4; 8 ] (t.Int "units") "a choice"
                    Expect.isTrue (t.Double "dropout" >= 0.0 && t.Double "dropout" <= 0.5) "in the range"

                // Log-uniform: about half the draws fall below the geometric middle, 10^-2.5.
                let low =
                    draws
                    |> Seq.filter (fun t -> t.Double "learning_rate" < 10.0 ** -2.5)
                    |> Seq.length

                Expect.isTrue (low > 12 && low < 38) $"log-uniform ({low} of 50 below the middle)"

            testCase "bad spaces and values are clear exceptions"
            <| fun () ->
                expectThrowsWith<InvalidOperationException> [ "grid needs choices"; "'dropout'" ] (fun () ->
                    HyperparameterSpace().Range("dropout", 0.0, 0.5).Grid() |> ignore)

                expectThrowsWith<ArgumentException> [ "mixes kinds" ] (fun () ->
                    HyperparameterSpace().Choice("x", 1, "a") |> ignore)

                expectThrowsWith<ArgumentException> [ "defined twice" ] (fun () ->
                    HyperparameterSpace().Choice("x", 1).Choice("x", 2) |> ignore)

                expectThrowsWith<ArgumentOutOfRangeException> [ "min > 0" ] (fun () ->
                    HyperparameterSpace().LogRange("lr", 0.0, 1.0) |> ignore)

                let trial = HyperparameterSpace().Choice("optimizer", "adam").Grid().[0]

                expectThrowsWith<InvalidCastException> [ "'optimizer'"; "not a number" ] (fun () ->
                    trial.Double "optimizer" |> ignore)

                expectThrowsWith<Collections.Generic.KeyNotFoundException> [ "no hyperparameter 'units'" ] (fun () ->
                    trial.Int "units" |> ignore)

            testCase "a search trains each trial, logs the HParams experiment and sessions, and picks the best"
            <| fun () ->
                scoped (fun () ->
                    let logDir =
                        Path.Combine(Path.GetTempPath(), $"functional-search-{Guid.NewGuid():N}")

                    let x, y = TrainingTests.blobs 256L 1UL

                    let space =
                        HyperparameterSpace()
                            .Choice("units", 2, 8)
                            .Choice("learning_rate", 0.001, 0.1)
                            .Choice("fail", false, true)

                    let trials =
                        space.Grid()
                        |> Seq.filter (fun t -> not (t.Bool "fail") || t.Int "units" = 2)
                        |> Seq.toArray

                    let result =
                        HyperparameterSearch.Run(
                            trials,
                            logDir,
                            fun trial ->
                                if trial.Values.Bool "fail" && trial.Values.Double "learning_rate" > 0.01 then
                                    failwith "this trial breaks"

                                use model =
                                    new Model(
                                        Sequential(
                                            Dense(int64 (trial.Values.Int "units"), ActivationFunction.Tanh),
                                            Dense(2L)
                                        ),
                                        [| 2L |],
                                        Loss.SparseCategoricalCrossEntropy(true),
                                        Optimizer.Adam(trial.Values.Double "learning_rate"),
                                        [ SparseCategoricalAccuracy() :> Metric ]
                                    )

                                model.Fit(
                                    x,
                                    y,
                                    trial.Options(FitOptions(Epochs = 3, BatchSize = 32, ValidationSplit = 0.25))
                                )
                        )

                    Expect.equal result.Trials.Count 6 "six trials"

                    let failed =
                        result.Trials |> Seq.filter (fun t -> not t.Succeeded) |> Seq.exactlyOne

                    Expect.stringContains failed.Error.Message "this trial breaks" "the failure is kept"

                    let best = result.Best
                    Expect.equal result.Objective "val_loss" "the default objective"

                    for t in result.Trials do
                        if t.Succeeded then
                            Expect.isLessThanOrEqual
                                best.Metrics.["val_loss"]
                                t.Metrics.["val_loss"]
                                "the lowest val_loss"

                    let experiment = pluginContent logDir "_hparams_/experiment" |> List.exactlyOne
                    let body = message 2 experiment |> List.exactlyOne |> fields
                    let infos = message 4 body |> List.map fields

                    Expect.sequenceEqual
                        [ for i in infos -> text 1 i |> List.head ]
                        [ "units"; "learning_rate"; "fail" ]
                        "every hyperparameter"

                    Expect.sequenceEqual
                        [ for i in infos -> varint 4 i ]
                        [ Some 3L; Some 3L; Some 2L ]
                        "float64, float64, bool"

                    let units =
                        message 5 infos.[0]
                        |> List.exactlyOne
                        |> WellKnownTypes.ListValue.Parser.ParseFrom

                    Expect.sequenceEqual
                        [ for v in units.Values -> v.NumberValue ]
                        [ 2.0; 8.0 ]
                        "the values units took"

                    let metrics =
                        [
                            for m in message 5 body ->
                                message 1 (fields m) |> List.exactlyOne |> fields |> text 2 |> List.head
                        ]

                    for name in [ "loss"; "accuracy"; "val_loss"; "val_accuracy" ] do
                        Expect.contains metrics name $"the metric {name}"

                    for t in result.Trials do
                        let folder = t.Trial.LogDir
                        let start = pluginContent folder "_hparams_/session_start_info" |> List.exactlyOne
                        let info = message 3 start |> List.exactlyOne |> fields

                        let values =
                            [
                                for entry in message 1 info ->
                                    let e = fields entry

                                    text 1 e |> List.head,
                                    WellKnownTypes.Value.Parser.ParseFrom(message 2 e |> List.head)
                            ]
                            |> Map.ofList

                        Expect.equal values.["units"].NumberValue (t.Trial.Values.Double "units") "units"

                        Expect.equal
                            values.["learning_rate"].NumberValue
                            (t.Trial.Values.Double "learning_rate")
                            "learning rate"

                        Expect.equal values.["fail"].BoolValue (t.Trial.Values.Bool "fail") "a boolean"
                        let ending = pluginContent folder "_hparams_/session_end_info" |> List.exactlyOne
                        let status = message 4 ending |> List.exactlyOne |> fields |> varint 1
                        Expect.equal status (Some(if t.Succeeded then 1L else 2L)) "success or failure"

                        if t.Succeeded then
                            let final =
                                [
                                    for e in TensorBoardTests.events folder do
                                        if not (isNull e.Summary) then
                                            for v in e.Summary.Value do
                                                if v.Tag = "val_loss" then
                                                    yield float v.SimpleValue
                                ]
                                |> List.exactlyOne

                            Expect.floatClose Accuracy.medium final t.Metrics.["val_loss"] "the final metric is logged"

                            Expect.isTrue
                                (Directory.Exists(Path.Combine(folder, "validation")))
                                "the curves, by the trial's logger"

                    Directory.Delete(logDir, true))
        ]
