/// Charts and images of results: confusion matrices, Plotly.NET pages, TensorBoard images.
module Functional.PropertyTests.ChartTests

open System
open System.IO
open Expecto
open TorchSharp
open Functional.Layers
open Functional.Losses
open Functional.Metrics
open Functional.Optimizers
open Functional.Training
open Functional.Plots
open Support

let private temp () =
    Path.Combine(Path.GetTempPath(), $"functional-charts-{Guid.NewGuid():N}")

/// Three classes of 6x6 images: a bright row at the top, the middle or the bottom.
let private stripes (n: int64) (seed: uint64) =
    use rng = new torch.Generator(seed)
    let labels = torch.randint (0L, 3L, [| n |], generator = rng)
    let images = torch.rand ([| n; 1L; 6L; 6L |], generator = rng) * 0.2f

    for i in 0L .. n - 1L do
        let row = labels.[i].item<int64>() * 2L + 1L
        images.[i, 0L, row] <- torch.ones (6L)

    images, labels

let private classifier () =
    new Model(
        Sequential(Flatten(), Dense(3L)),
        [| 1L; 6L; 6L |],
        Loss.SparseCategoricalCrossEntropy(true),
        Optimizer.Adam 0.05,
        [ SparseCategoricalAccuracy() :> Metric ]
    )

let tests =
    testList
        "charts"
        [
            testCase "a confusion matrix counts actual against predicted classes"
            <| fun () ->
                scoped (fun () ->
                    let predicted = torch.tensor ([| 0L; 1L; 1L; 2L; 2L; 2L |])
                    let actual = torch.tensor ([| 0L; 1L; 2L; 2L; 2L; 0L |])
                    let m = ConfusionMatrix.FromPredictions(predicted, actual, 3, [ "a"; "b"; "c" ])
                    Expect.equal m.Counts.[0, 0] 1L "a as a"
                    Expect.equal m.Counts.[0, 2] 1L "a as c"
                    Expect.equal m.Counts.[2, 1] 1L "c as b"
                    Expect.equal m.Counts.[2, 2] 2L "c as c"
                    Expect.equal m.Total 6L "every example"
                    Expect.floatClose Accuracy.high m.Accuracy (4.0 / 6.0) "the diagonal"
                    Expect.floatClose Accuracy.high (m.RowShares().[2, 2]) (2.0 / 3.0) "a row's share"
                    let table = (string m).Split('\n')
                    Expect.stringStarts table.[0] "actual \\ predicted" "a table"
                    Expect.stringContains table.[3] "1" "row c"

                    expectThrowsWith<ArgumentOutOfRangeException> [ "[0, 3)"; "from 0 to 5" ] (fun () ->
                        ConfusionMatrix.FromPredictions(predicted, torch.tensor ([| 0L; 1L; 2L; 2L; 2L; 5L |]), 3)
                        |> ignore)

                    expectThrowsWith<ArgumentException> [ "class ids" ] (fun () ->
                        ConfusionMatrix.FromPredictions(predicted.to_type torch.float32, actual, 3)
                        |> ignore)

                    use binary =
                        new Model(Dense(1L), [| 2L |], Loss.MeanSquaredError, Optimizer.Sgd 0.1)

                    expectThrowsWith<ArgumentException> [ "scores each class"; "FromPredictions" ] (fun () ->
                        ConfusionMatrix.Of(binary, torch.zeros (4L, 2L), torch.zeros (4L, 1L)) |> ignore))

            testCase "History, confusion matrix and sample predictions become Plotly.NET pages"
            <| fun () ->
                scoped (fun () ->
                    let folder = temp ()
                    let x, y = stripes 120L 1UL
                    use model = classifier ()

                    let history =
                        model.Fit(
                            x,
                            y,
                            FitOptions(
                                Epochs = 3,
                                BatchSize = 20,
                                ValidationSplit = 0.25,
                                Verbosity = Verbosity.Silent
                            )
                        )

                    let page = Path.Combine(folder, "history.html")
                    history.Plot().SaveHtml(page)
                    let html = File.ReadAllText page
                    Expect.stringContains html "plotly" "a Plotly page"

                    for name in [ "\"loss\""; "\"val_loss\""; "\"accuracy\""; "\"val_accuracy\"" ] do
                        Expect.stringContains html name $"a trace {name}"

                    let matrix = ConfusionMatrix.Of(model, x, y)
                    Expect.equal matrix.Total 120L "every example"
                    let heatmap = matrix.Plot().ToHtml()
                    Expect.stringContains heatmap "heatmap" "a heatmap"
                    Expect.stringContains heatmap "predicted" "axis titles"
                    let samples = Charts.SamplePredictions(model, x, y, 4).ToHtml()
                    Expect.stringContains samples "heatmap" "the images"
                    Expect.isGreaterThan (samples.Split("\"type\":\"heatmap\"").Length - 1) 3 "four images"

                    expectThrowsWith<ArgumentException> [ "at least one image" ] (fun () ->
                        Charts.SamplePredictions(model, x, y, 0) |> ignore)

                    expectThrowsWith<ArgumentException> [ "a target per image" ] (fun () ->
                        Charts.SamplePredictions(model, x, y.narrow (0L, 0L, 3L)) |> ignore)

                    let offline = history.Plot().ToHtml(embedPlotly = true)
                    Expect.isGreaterThan offline.Length 1_000_000 "plotly.js embedded for offline pages"
                    Directory.Delete(folder, true))

            testCase "ClassificationImages writes the confusion matrix and framed predictions as TensorBoard images"
            <| fun () ->
                scoped (fun () ->
                    let logDir = temp ()
                    let x, y = stripes 90L 2UL
                    use model = classifier ()
                    let held = LabeledData(x.narrow (0L, 60L, 30L), y.narrow (0L, 60L, 30L))

                    model.Fit(
                        x.narrow (0L, 0L, 60L),
                        y.narrow (0L, 0L, 60L),
                        FitOptions(
                            Epochs = 2,
                            BatchSize = 20,
                            Verbosity = Verbosity.Silent,
                            Callbacks = [ ClassificationImages(held, logDir, samples = 3) ]
                        )
                    )
                    |> ignore

                    let images =
                        [
                            for e in TensorBoardTests.events (Path.Combine(logDir, "validation")) do
                                if not (isNull e.Summary) then
                                    for v in e.Summary.Value do
                                        if not (isNull v.Image) then
                                            yield e.Step, v
                        ]

                    Expect.sequenceEqual
                        [ for step, v in images -> step, v.Tag ]
                        [
                            for step in [ 0L; 1L ] do
                                for tag in [ "confusion_matrix"; "predictions/0"; "predictions/1"; "predictions/2" ] ->
                                    step, tag
                        ]
                        "a matrix and three predictions per epoch"

                    let _, matrix = images.[4]
                    Expect.equal (matrix.Image.Height, matrix.Image.Width) (96, 96) "3 cells of 32 pixels"

                    Expect.stringContains
                        matrix.Metadata.SummaryDescription
                        "actual \\ predicted"
                        "the table as its description"

                    let png = matrix.Image.EncodedImageString.ToByteArray()
                    Expect.sequenceEqual png.[1..3] "PNG"B "a PNG"
                    let _, sample = images.[5]
                    Expect.equal (sample.Image.Height, sample.Image.Width) (10, 10) "6x6 inside a 2-pixel frame"
                    Expect.stringStarts sample.Metadata.SummaryDescription "predicted " "what was predicted"
                    Directory.Delete(logDir, true))
        ]
